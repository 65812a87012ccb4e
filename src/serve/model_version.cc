#include "serve/model_version.h"

#include <algorithm>
#include <set>
#include <span>

#include "exec/run_threads.h"
#include "serve/batch_tensors.h"
#include "serve/classification.h"
#include "serve/datatype_names.h"

namespace kiln::serve {

namespace {

std::string model_label(const ModelConfig& c, int64_t version) {
  return "model '" + c.name + "' version " + std::to_string(version);
}

double micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

// Runs this short cost less than the thread switches of a hand-off to a worker (bench/serve/run.py).
constexpr std::chrono::microseconds kInlineRunsBelow{100};
// Runs this short compute on one thread (BatcherOptions::single_thread_runs_below): mlp (784-1024-1024-10,
// 0.08 ms a run on 2 threads, 0.10 on 1), one instance at --threads 2, HTTP binary, concurrency 16,
// served 5.2k inferences/s on 2-thread runs and 7.3k on 1-thread runs.
constexpr std::chrono::microseconds kSingleThreadRunsBelow{200};
// A first (warm-up) run under this builds the kernels of one-thread runs too (inline and short runs): a
// few times kSingleThreadRunsBelow, as kernel building makes a first run several times slower.
constexpr std::chrono::microseconds kInlineWarmUpBelow{1000};

// Bytes of one request of one row (every dynamic dimension 1), as the warm-up runs it.
int64_t one_row_input_bytes(const ModelConfig& config) {
  int64_t bytes = 0;
  for (const TensorConfig& in : config.inputs) {
    if (in.optional) continue;
    int64_t elements = 1;
    for (int64_t d : in.dims) elements *= d < 0 ? 1 : d;
    bytes += elements * static_cast<int64_t>(data_type_size(in.dtype));
  }
  return bytes;
}

}  // namespace

Status warm_up(const Session& session, const ModelConfig& config, int64_t batch, int threads) {
  std::vector<NamedValue> inputs;
  for (const TensorConfig& in : config.inputs) {
    if (in.optional) continue;
    Shape shape = in.dims;
    for (int64_t& d : shape) d = d < 0 ? 1 : d;
    if (config.max_batch_size > 0 && !shape.empty()) shape[0] = batch;
    KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::make(in.dtype, shape));
    inputs.push_back({in.name, Value(std::move(t))});
  }
  RunOptions options;
  options.intra_op_threads = threads;
  auto out = session.run(inputs, options);
  if (!out.ok()) return out.status().with_context("model '" + config.name + "': warm-up run failed");
  return Status::OK();
}

int intra_op_threads_for(const SchedulerOptions& options, int instances) {
  const int budget = options.budget != nullptr ? options.budget->total() : 0;
  if (options.intra_op_threads > 0)
    return budget > 0 ? std::min(options.intra_op_threads, budget) : options.intra_op_threads;
  if (budget == 0) return 0;
  return std::max(1, budget / std::max(1, instances));
}

Expected<std::unique_ptr<ModelVersion>> ModelVersion::load(const std::string& path, int64_t version, ModelConfig config,
                                                           const SchedulerOptions& options, ServeMetrics* metrics) {
  const int instances =
      static_cast<int>(std::clamp<int64_t>(config.instance_count, 1, std::max(1, options.max_instances)));
  SessionOptions session_options;
  session_options.intra_op_threads = intra_op_threads_for(options, instances);
  session_options.warm_up = false;  // warm_up() below runs at the config's shapes, within the thread budget
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Session> session, Session::load(path, session_options));
  KILN_RETURN_IF_ERROR(complete_model_config(*session, &config));
  for (const auto* list : {&config.inputs, &config.outputs}) {
    for (const TensorConfig& t : *list) {
      if (kserve_datatype_name(t.dtype).empty()) {
        return Status::Unimplemented("model '" + config.name + "': '" + t.name + "' has type " +
                                     std::string(data_type_name(t.dtype)) + ", which KServe v2 cannot carry");
      }
    }
  }
  BatcherOptions bopts;
  bopts.name = model_label(config, version);
  bopts.max_batch_size = config.dynamic_batching ? config.max_batch_size : 0;
  bopts.preferred_batch_sizes = config.preferred_batch_sizes;
  bopts.batch_sizes = batch_sizes_for(bopts.max_batch_size, config.preferred_batch_sizes);
  bopts.threads_per_run = std::max(1, session_options.intra_op_threads);
  bopts.split_parts = bopts.max_batch_size > 0 ? bopts.threads_per_run : 1;
  {
    // Build the kernels for every batch size the batcher will form now, not on the first requests:
    // whole, for a request of that many rows, and in the parts a batch of single rows computes as.
    // A reload warms up while other models serve: it computes within the thread budget like a run.
    ComputeBudget::Slot slot(options.budget.get(), bopts.threads_per_run);
    // The loading thread (main, the poller or an I/O thread) leads no more teams once the warm-ups are
    // done, or failed: its team threads would only count against the cores (release_team_threads, exec/run_threads.h)
    // while the workers compute.
    struct ReleaseTeamThreadsAtEnd {
      ~ReleaseTeamThreadsAtEnd() { release_team_threads(); }
    } release_at_end;
    const Clock::time_point start = Clock::now();
    KILN_RETURN_IF_ERROR(warm_up(*session, config));
    // The batcher's run-time average starts from this first run (longer than the next: it builds the
    // kernels), so a heavy model never starts out inline or on one thread.
    bopts.first_run_time = Clock::now() - start;
    // A version this quick (even its first run) will run requests on one thread, inline or on a
    // worker: its kernels for a team of one are built now as well.
    if (bopts.threads_per_run > kInlineThreads && bopts.first_run_time < kInlineWarmUpBelow) {
      KILN_RETURN_IF_ERROR(warm_up(*session, config, 1, kInlineThreads));
    }
    std::set<int64_t> part_rows;
    for (int64_t rows : bopts.batch_sizes) {
      if (rows <= 1) continue;
      KILN_RETURN_IF_ERROR(warm_up(*session, config, rows));
      if (bopts.split_parts > 1) {
        for (int64_t r : part_sizes(rows, bopts.split_parts)) part_rows.insert(r);
      }
    }
    for (int64_t rows : part_rows) KILN_RETURN_IF_ERROR(warm_up(*session, config, rows, 1));
  }
  bopts.max_queue_delay = std::chrono::microseconds(config.max_queue_delay_us);
  bopts.max_queue_size = options.max_queue_size;
  bopts.budget = options.budget;
  bopts.instance_count = instances;
  bopts.inline_runs_below = kInlineRunsBelow;
  bopts.single_thread_runs_below = kSingleThreadRunsBelow;
  bopts.single_thread_input_bytes = std::max<int64_t>(1, one_row_input_bytes(config));
  std::shared_ptr<ModelMetrics> mm = metrics->for_model(config.name, version);
  std::unique_ptr<ModelVersion> mv(new ModelVersion(std::move(session), version, std::move(config), mm, instances,
                                                    session_options.intra_op_threads));
  const Session* s = mv->session_.get();
  ModelMetrics* m = mm.get();
  ModelStatistics* stats = &mv->statistics_;
  mv->batcher_ = std::make_unique<DynamicBatcher>(
      bopts, [s](const std::vector<NamedValue>& in, const RunOptions& run_options) { return s->run(in, run_options); },
      [m, stats](const DynamicBatcher::Execution& e) {
        stats->record_execution(e);
        if (!e.succeeded) return;
        m->execution_count.Increment();
        m->inference_count.Increment(static_cast<double>(e.rows));
      });
  return mv;
}

ModelVersion::ModelVersion(std::unique_ptr<Session> session, int64_t version, ModelConfig config,
                           std::shared_ptr<ModelMetrics> metrics, int instance_count, int intra_op_threads)
    : session_(std::move(session)),
      version_(version),
      config_(std::move(config)),
      metrics_(std::move(metrics)),
      instance_count_(instance_count),
      intra_op_threads_(intra_op_threads) {}

ModelVersion::~ModelVersion() { shutdown(); }

void ModelVersion::shutdown() {
  if (batcher_) batcher_->shutdown();
}

Status ModelVersion::validate(InferenceRequest* request) const {
  const std::string label = "model '" + config_.name + "'";
  std::vector<NamedValue> ordered;
  for (const NamedValue& in : request->inputs) {
    auto it = std::find_if(config_.inputs.begin(), config_.inputs.end(),
                           [&](const TensorConfig& c) { return c.name == in.name; });
    if (it == config_.inputs.end()) return Status::InvalidArgument(label + ": unknown input '" + in.name + "'");
    for (const NamedValue& other : request->inputs) {
      if (&other != &in && other.name == in.name) {
        return Status::InvalidArgument(label + ": input '" + in.name + "' given twice");
      }
    }
  }
  int64_t rows = -1;
  for (const TensorConfig& c : config_.inputs) {
    auto it = std::find_if(request->inputs.begin(), request->inputs.end(),
                           [&](const NamedValue& nv) { return nv.name == c.name; });
    if (it == request->inputs.end()) {
      if (c.optional) continue;
      return Status::InvalidArgument(label + ": missing input '" + c.name + "'");
    }
    const std::string here = label + " input '" + c.name + "': ";
    if (!it->value.is_tensor()) return Status::InvalidArgument(here + "expected a tensor");
    const Tensor& t = it->value.tensor();
    if (t.dtype() != c.dtype) {
      return Status::InvalidArgument(here + "expected datatype " + std::string(kserve_datatype_name(c.dtype)) +
                                     ", got " + std::string(kserve_datatype_name(t.dtype())));
    }
    bool shape_ok = t.rank() == static_cast<int64_t>(c.dims.size());
    for (size_t d = 0; shape_ok && d < c.dims.size(); ++d) {
      shape_ok = c.dims[d] == -1 || c.dims[d] == t.dim(static_cast<int64_t>(d));
    }
    if (!shape_ok) {
      return Status::InvalidArgument(here + "expected shape " + shape_to_string(c.dims) + ", got " +
                                     shape_to_string(t.shape()));
    }
    if (config_.max_batch_size > 0) {
      if (t.dim(0) > config_.max_batch_size) {
        return Status::InvalidArgument(here + "batch size " + std::to_string(t.dim(0)) + " exceeds max_batch_size " +
                                       std::to_string(config_.max_batch_size));
      }
      if (rows >= 0 && t.dim(0) != rows) {
        return Status::InvalidArgument(here + "batch size " + std::to_string(t.dim(0)) +
                                       " differs from the other inputs' " + std::to_string(rows));
      }
      rows = t.dim(0);
    }
    ordered.push_back(std::move(*it));
  }
  for (const std::string& name : request->requested_outputs) {
    bool known = std::any_of(config_.outputs.begin(), config_.outputs.end(),
                             [&](const TensorConfig& c) { return c.name == name; });
    if (!known) return Status::InvalidArgument(label + ": unknown output '" + name + "'");
  }
  for (const auto& [name, k] : request->classification) {
    auto it = std::find_if(config_.outputs.begin(), config_.outputs.end(),
                           [&](const TensorConfig& c) { return c.name == name; });
    if (it == config_.outputs.end()) return Status::InvalidArgument(label + ": unknown output '" + name + "'");
    const std::string here = label + " output '" + name + "': ";
    if (k <= 0) return Status::InvalidArgument(here + "classification count must be positive");
    if (!classifiable(it->dtype)) {
      return Status::InvalidArgument(here + "classification needs integer, FP32 or FP64 values, not " +
                                     std::string(kserve_datatype_name(it->dtype)));
    }
  }
  request->inputs = std::move(ordered);  // model order, which batch_compatible relies on
  return Status::OK();
}

Status ModelVersion::submit(InferenceRequest request, InferenceCallback done) {
  const Clock::time_point start = Clock::now();
  if (Status st = validate(&request); !st.ok()) {
    metrics_->request_failure.Increment();
    statistics_.record_request(false, Clock::now() - start, RequestTiming{});
    return st;
  }
  auto response = std::make_shared<InferenceResponse>();
  response->model = config_.name;
  response->version = version_;
  response->id = std::move(request.id);
  ModelMetrics* m = metrics_.get();
  ModelStatistics* stats = &statistics_;
  auto requested = std::make_shared<std::vector<std::string>>(std::move(request.requested_outputs));
  // Empty for nearly every request: then no allocation is shared.
  std::shared_ptr<const std::map<std::string, int64_t>> classification;
  if (!request.classification.empty()) {
    classification = std::make_shared<const std::map<std::string, int64_t>>(std::move(request.classification));
  }
  const bool batched = config_.max_batch_size > 0;
  const std::vector<TensorConfig>* outputs_config = &config_.outputs;  // lives as long as m and stats
  Status st = batcher_->submit(
      std::move(request.inputs), request.deadline,
      [m, stats, start, response, requested, classification, batched, outputs_config, done = std::move(done)](
          Expected<std::vector<NamedValue>> outputs, const RequestTiming& timing) {
        const Clock::duration total = Clock::now() - start;
        stats->record_request(outputs.ok(), total, timing);
        m->request_duration_us.Increment(micros(total));
        m->queue_duration_us.Increment(micros(timing.queue));
        m->compute_input_duration_us.Increment(micros(timing.compute_input));
        m->compute_infer_duration_us.Increment(micros(timing.compute_infer));
        m->compute_output_duration_us.Increment(micros(timing.compute_output));
        m->request_latency_seconds.Observe(std::chrono::duration<double>(total).count());
        if (!outputs.ok()) {
          m->request_failure.Increment();
          done(outputs.take_status());
          return;
        }
        m->request_success.Increment();
        for (NamedValue& nv : *outputs) {
          if (requested->empty() || std::find(requested->begin(), requested->end(), nv.name) != requested->end()) {
            response->outputs.push_back(std::move(nv));
          }
        }
        if (classification != nullptr) {
          for (NamedValue& nv : response->outputs) {
            auto it = classification->find(nv.name);
            if (it == classification->end() || !nv.value.is_tensor()) continue;
            // validate() checked the configured type; a model whose output disagrees fails here.
            auto c = std::find_if(outputs_config->begin(), outputs_config->end(),
                                  [&](const TensorConfig& t) { return t.name == nv.name; });
            std::span<const std::string> labels;
            if (c != outputs_config->end()) labels = c->labels;
            auto top = classify_top_k(nv.value.tensor(), it->second, batched, nv.name, labels);
            if (!top.ok()) return done(top.take_status());
            nv.value = Value(std::move(top).value());
          }
        }
        done(std::move(*response));
      },
      std::move(request.cancelled));
  if (!st.ok()) {
    metrics_->request_failure.Increment();
    statistics_.record_request(false, Clock::now() - start, RequestTiming{});
  }
  m->queue_size.Set(static_cast<double>(batcher_->queued()));
  return st;
}

}  // namespace kiln::serve
