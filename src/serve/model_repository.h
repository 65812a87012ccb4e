// ModelRepository: model versions on disk, in Triton's layout, and the versions loaded from them.
//
//   REPO/MODEL/config.pbtxt          optional; see ModelConfig
//   REPO/MODEL/VERSION/model.onnx    VERSION is a positive integer
//
// Which versions load follows the config's version_policy (default: the latest one). In control mode
// kNone every model loads at start and the set is fixed; in kExplicit models load and unload on
// request; in kPoll every model loads at start and poll() follows the folder: a new or changed
// model is (re)loaded, a removed one unloaded. Reloading a loaded model loads the new versions first and swaps them in,
// so requests keep being served; unloading waits for the requests already queued.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "kiln/status.h"
#include "serve/metrics.h"
#include "serve/model_version.h"

namespace kiln::serve {

enum class ModelControlMode { kNone, kExplicit, kPoll };

struct RepositoryOptions {
  std::string root;
  ModelControlMode mode = ModelControlMode::kNone;
  SchedulerOptions scheduler;
};

struct ModelIndexEntry {
  std::string name;
  int64_t version = 0;  // 0 for a model with no loaded version
  std::string state;    // READY, UNAVAILABLE, UNLOADING
  std::string reason;   // why it is not READY ("" when it is)
};

class ModelRepository {
 public:
  // `metrics` must outlive the repository.
  ModelRepository(RepositoryOptions options, ServeMetrics* metrics);
  ~ModelRepository();  // shutdown()

  // Loads every model in the folder (control mode kNone at start). Returns one status per model that
  // failed; the others serve regardless. Fails as a whole only when the folder cannot be read.
  Expected<std::vector<Status>> load_all();

  // Loads (or reloads) a model's versions. NotFound when REPO/name does not exist; the load error
  // (naming the model and file) otherwise, in which case versions already loaded keep serving.
  // Fails with FailedPrecondition unless the control mode is kExplicit.
  Status load(const std::string& name);
  // Stops serving a model and waits for its queued requests. NotFound when it is not loaded.
  Status unload(const std::string& name);

  // Finds the version for `request` and submits it (see ModelVersion::submit). When a reload or
  // unload retires that version between the lookup and the submission, looks again, so swapping in
  // a new version fails no request. Thread-safe.
  Status infer(InferenceRequest request, InferenceCallback done);

  // One pass of control mode kPoll: compares each model folder's files (names, sizes, modification
  // times) with those at its last load attempt, reloads what changed and unloads what disappeared.
  // Returns one line per change, e.g. "model 'x' reloaded" or the load error. Thread-safe.
  std::vector<std::string> poll();

  // The version to serve a request: `version` 0 picks the highest loaded one. NotFound for an unknown
  // model or version, Unavailable for a model that failed to load or is shutting down.
  Expected<std::shared_ptr<ModelVersion>> find(const std::string& name, int64_t version) const;
  // Every loaded version of a model, ascending. NotFound when none is loaded.
  Expected<std::vector<std::shared_ptr<ModelVersion>>> versions(const std::string& name) const;
  // What a statistics request names: every loaded version of every model (name ""), of one model
  // (version 0), or one version (see find). Ordered by name, then version.
  Expected<std::vector<std::shared_ptr<ModelVersion>>> select(const std::string& name, int64_t version) const;

  // Every model folder in the repository, with the state of each loaded version.
  std::vector<ModelIndexEntry> index() const;
  // True while not shutting down and every model that was asked to load has a version serving.
  bool ready() const;
  ModelControlMode mode() const { return options_.mode; }

  // Drains every model: no new requests, queued ones finish. Idempotent.
  void shutdown();

 private:
  struct Model {
    std::map<int64_t, std::shared_ptr<ModelVersion>> versions;
    Status error;             // the last load failure, if any
    std::string fingerprint;  // the folder's files at the last load attempt (kPoll)
  };
  Status load_locked_free(const std::string& name);
  Status unload_locked_free(const std::string& name);

  const RepositoryOptions options_;
  ServeMetrics* const metrics_;
  std::mutex load_mu_;  // serializes load/unload so two reloads of a model do not race
  mutable std::mutex mu_;
  std::map<std::string, Model> models_;  // guarded by mu_
  bool shutting_down_ = false;           // guarded by mu_
};

// The version numbers a policy selects from those on disk (ascending).
std::vector<int64_t> select_versions(const VersionPolicy& policy, std::vector<int64_t> on_disk);

// A summary of the files that make up a model (config.pbtxt and each VERSION/file: size and mtime);
// it changes whenever a file is added, removed or rewritten.
std::string model_fingerprint(const std::string& root, const std::string& name);

// Reads REPO/name/config.pbtxt if present (an empty config otherwise), fills in the name, and reads the
// outputs' label files (label_file.h); an error naming the file when one is missing or unreadable.
Expected<ModelConfig> read_model_config(const std::string& root, const std::string& name);

}  // namespace kiln::serve
