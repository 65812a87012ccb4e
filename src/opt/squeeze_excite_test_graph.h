// The graph the squeeze-excite pass tests start from (fuse_blocked_squeeze_excite_test.cc,
// fuse_squeeze_excite_projection_test.cc): EfficientNet's block tail.
#pragma once

#include "opt/pass_test_util.h"

namespace kiln::opt::testing {

struct SqueezeExciteTail {
  bool gate_first = false;          // Mul(gate, d) rather than Mul(d, gate)
  int64_t projection_channels = 8;  // 20 for a residual
  bool residual = false;            // the block's input added to the projection
};

// x [N, 20, H, W] -> depthwise 3x3 conv (d) -> squeeze-excite: GlobalAveragePool, 1x1 conv, SiLU (as
// Sigmoid and Mul), 1x1 conv, Sigmoid, Identity (g), Mul with d (m) -> the projecting 1x1 conv with a
// bias -> y, or + x -> y. 20 channels: a padded last block.
inline ir::Graph squeeze_excite_tail(const SqueezeExciteTail& t) {
  ir::Graph g;
  g.inputs = {float_value("x")};
  g.outputs = {float_value("y")};
  g.initializers["wd"] = ramp({20, 1, 3, 3}, 0.03f, -0.2f);
  g.initializers["w1"] = ramp({5, 20, 1, 1}, 0.05f, -0.3f);
  g.initializers["b1"] = ramp({5}, 0.1f, -0.2f);
  g.initializers["w2"] = ramp({20, 5, 1, 1}, 0.07f, -0.4f);
  g.initializers["b2"] = ramp({20}, 0.1f, -0.6f);
  g.initializers["wp"] = ramp({t.projection_channels, 20, 1, 1}, 0.05f, -0.3f);
  g.initializers["bp"] = ramp({t.projection_channels}, 0.02f, -0.1f);
  const std::vector<std::string> mul_in =
      t.gate_first ? std::vector<std::string>{"g", "d"} : std::vector<std::string>{"d", "g"};
  g.nodes = {make("Conv", {"x", "wd"}, {"d"}, {ints("pads", {1, 1, 1, 1}), ir::Attribute::of_int("group", 20)}),
             make("GlobalAveragePool", {"d"}, {"s"}),
             make("Conv", {"s", "w1", "b1"}, {"r"}),
             make("Sigmoid", {"r"}, {"rs"}),
             make("Mul", {"r", "rs"}, {"ra"}),
             make("Conv", {"ra", "w2", "b2"}, {"e"}),
             make("Sigmoid", {"e"}, {"gate"}),
             make("Identity", {"gate"}, {"g"}),
             make("Mul", mul_in, {"m"}),
             make("Conv", {"m", "wp", "bp"}, {t.residual ? "p" : "y"})};
  if (t.residual) g.nodes.push_back(make("Add", {"p", "x"}, {"y"}));
  return g;
}

}  // namespace kiln::opt::testing
