#include "serve/http/statistics_json.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace kiln::serve::http {

namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void write_duration(Writer& w, const char* key, const DurationStatistic& d) {
  w.Key(key);
  w.StartObject();
  w.Key("count");
  w.Uint64(d.count);
  w.Key("ns");
  w.Uint64(d.ns);
  w.EndObject();
}

void write_model(Writer& w, const ModelVersion& mv) {
  const ModelStatisticsSnapshot s = mv.statistics();
  w.StartObject();
  w.Key("name");
  w.String(mv.name());
  w.Key("version");
  w.String(std::to_string(mv.version()));
  w.Key("last_inference");
  w.Uint64(s.last_inference_ms);
  w.Key("inference_count");
  w.Uint64(s.inference_count);
  w.Key("execution_count");
  w.Uint64(s.execution_count);
  w.Key("inference_stats");
  w.StartObject();
  write_duration(w, "success", s.success);
  write_duration(w, "fail", s.fail);
  write_duration(w, "queue", s.queue);
  write_duration(w, "compute_input", s.compute_input);
  write_duration(w, "compute_infer", s.compute_infer);
  write_duration(w, "compute_output", s.compute_output);
  // kiln has no response cache; perf_analyzer reads both regardless.
  write_duration(w, "cache_hit", DurationStatistic{});
  write_duration(w, "cache_miss", DurationStatistic{});
  w.EndObject();
  w.Key("batch_stats");
  w.StartArray();
  for (const BatchStatistics& b : s.batch_stats) {
    w.StartObject();
    w.Key("batch_size");
    w.Uint64(b.batch_size);
    write_duration(w, "compute_input", b.compute_input);
    write_duration(w, "compute_infer", b.compute_infer);
    write_duration(w, "compute_output", b.compute_output);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
}

}  // namespace

std::string model_statistics_json(const std::vector<std::shared_ptr<ModelVersion>>& versions) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  w.Key("model_stats");
  w.StartArray();
  for (const auto& mv : versions) write_model(w, *mv);
  w.EndArray();
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace kiln::serve::http
