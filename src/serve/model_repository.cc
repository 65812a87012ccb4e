#include "serve/model_repository.h"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "serve/label_file.h"

namespace kiln::serve {

namespace fs = std::filesystem;

std::vector<int64_t> select_versions(const VersionPolicy& policy, std::vector<int64_t> on_disk) {
  std::sort(on_disk.begin(), on_disk.end());
  switch (policy.kind) {
    case VersionPolicy::Kind::kAll:
      return on_disk;
    case VersionPolicy::Kind::kSpecific: {
      std::vector<int64_t> out;
      for (int64_t v : on_disk) {
        if (std::find(policy.versions.begin(), policy.versions.end(), v) != policy.versions.end()) out.push_back(v);
      }
      return out;
    }
    case VersionPolicy::Kind::kLatest:
    default: {
      const size_t n = std::min<size_t>(on_disk.size(), static_cast<size_t>(policy.num_versions));
      return std::vector<int64_t>(on_disk.end() - static_cast<std::ptrdiff_t>(n), on_disk.end());
    }
  }
}

Expected<ModelConfig> read_model_config(const std::string& root, const std::string& name) {
  const fs::path dir = fs::path(root) / name;
  const fs::path file = dir / "config.pbtxt";
  ModelConfig config;
  std::error_code ec;
  if (fs::exists(file, ec)) {
    std::ifstream in(file);
    if (!in) return Status::IOError("model '" + name + "': cannot read " + file.string());
    std::stringstream text;
    text << in.rdbuf();
    KILN_ASSIGN_OR_RETURN(config, parse_model_config(text.str(), file.string()));
  }
  if (!config.name.empty() && config.name != name) {
    return Status::InvalidArgument("model '" + name + "': config.pbtxt names it '" + config.name +
                                   "'; the name must match the folder");
  }
  config.name = name;
  KILN_RETURN_IF_ERROR(read_output_labels(dir.string(), &config));
  return config;
}

ModelRepository::ModelRepository(RepositoryOptions options, ServeMetrics* metrics)
    : options_(std::move(options)), metrics_(metrics) {}

ModelRepository::~ModelRepository() { shutdown(); }

Expected<std::vector<Status>> ModelRepository::load_all() {
  std::error_code ec;
  fs::directory_iterator it(options_.root, ec);
  if (ec) return Status::IOError("model repository '" + options_.root + "': " + ec.message());
  std::vector<std::string> names;
  for (const auto& entry : it) {
    if (entry.is_directory(ec) && entry.path().filename().string()[0] != '.') {
      names.push_back(entry.path().filename().string());
    }
  }
  std::sort(names.begin(), names.end());
  std::vector<Status> failures;
  for (const std::string& name : names) {
    Status st = load_locked_free(name);
    if (!st.ok()) failures.push_back(std::move(st));
  }
  return failures;
}

std::string model_fingerprint(const std::string& root, const std::string& name) {
  std::vector<std::string> entries;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(fs::path(root) / name, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it.depth() > 1 || !it->is_regular_file(ec)) continue;  // config.pbtxt and VERSION/files only
    const auto mtime = fs::last_write_time(it->path(), ec).time_since_epoch().count();
    entries.push_back(fs::relative(it->path(), fs::path(root) / name, ec).string() + ":" +
                      std::to_string(it->file_size(ec)) + ":" + std::to_string(mtime));
  }
  std::sort(entries.begin(), entries.end());
  std::string out;
  for (const std::string& e : entries) out += e + "\n";
  return out;
}

Status ModelRepository::load(const std::string& name) {
  if (options_.mode != ModelControlMode::kExplicit) {
    return Status::FailedPrecondition("model '" + name +
                                      "': explicit load and unload need --model-control-mode explicit");
  }
  return load_locked_free(name);
}

Status ModelRepository::load_locked_free(const std::string& name) {
  std::lock_guard<std::mutex> serial(load_mu_);
  // Names come from clients: allow only a plain folder name, never a path.
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos ||
      name.find('\\') != std::string::npos) {
    return Status::InvalidArgument("model name '" + name + "' is not a folder name");
  }
  const fs::path dir = fs::path(options_.root) / name;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return Status::NotFound("model '" + name + "' is not in the repository " + options_.root);
  }
  const std::string fingerprint = model_fingerprint(options_.root, name);
  auto fail = [&](Status st) {
    std::lock_guard<std::mutex> lock(mu_);
    models_[name].error = st;
    models_[name].fingerprint = fingerprint;  // retried only when the files change again
    return st;
  };
  Expected<ModelConfig> config = read_model_config(options_.root, name);
  if (!config.ok()) return fail(config.status());
  std::vector<int64_t> on_disk;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string v = entry.path().filename().string();
    int64_t n = 0;
    auto [p, err] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (err == std::errc() && p == v.data() + v.size() && n > 0 &&
        fs::exists(entry.path() / config->default_model_filename, ec)) {
      on_disk.push_back(n);
    }
  }
  std::vector<int64_t> wanted = select_versions(config->version_policy, on_disk);
  if (wanted.empty()) {
    return fail(Status::NotFound("model '" + name + "': no version folder with " + config->default_model_filename +
                                 " matches the version policy"));
  }
  std::map<int64_t, std::shared_ptr<ModelVersion>> loaded;
  for (int64_t v : wanted) {
    const std::string path = (dir / std::to_string(v) / config->default_model_filename).string();
    auto mv = ModelVersion::load(path, v, *config, options_.scheduler, metrics_);
    if (!mv.ok()) return fail(mv.status().with_context("model '" + name + "' version " + std::to_string(v)));
    loaded[v] = std::move(mv).value();
  }
  std::map<int64_t, std::shared_ptr<ModelVersion>> old;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shutting_down_) return Status::Unavailable("model '" + name + "': the server is shutting down");
    Model& m = models_[name];
    old.swap(m.versions);
    m.versions = std::move(loaded);
    m.error = Status::OK();
    m.fingerprint = fingerprint;
  }
  // The new versions already serve; the old ones finish what they have queued.
  for (auto& [v, mv] : old) mv->shutdown();
  return Status::OK();
}

Status ModelRepository::unload(const std::string& name) {
  if (options_.mode != ModelControlMode::kExplicit) {
    return Status::FailedPrecondition("model '" + name +
                                      "': explicit load and unload need --model-control-mode explicit");
  }
  return unload_locked_free(name);
}

Status ModelRepository::unload_locked_free(const std::string& name) {
  std::lock_guard<std::mutex> serial(load_mu_);
  std::map<int64_t, std::shared_ptr<ModelVersion>> old;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = models_.find(name);
    if (it == models_.end() || it->second.versions.empty()) {
      return Status::NotFound("model '" + name + "' is not loaded");
    }
    old.swap(it->second.versions);
    models_.erase(it);
  }
  for (auto& [v, mv] : old) mv->shutdown();
  return Status::OK();
}

Expected<std::shared_ptr<ModelVersion>> ModelRepository::find(const std::string& name, int64_t version) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = models_.find(name);
  if (it == models_.end()) return Status::NotFound("unknown model '" + name + "'");
  if (it->second.versions.empty()) {
    if (!it->second.error.ok()) {
      return Status::Unavailable("model '" + name + "' is not ready: " + it->second.error.message());
    }
    return Status::NotFound("unknown model '" + name + "'");
  }
  if (shutting_down_) return Status::Unavailable("model '" + name + "': the server is shutting down");
  if (version == 0) return it->second.versions.rbegin()->second;
  auto v = it->second.versions.find(version);
  if (v == it->second.versions.end()) {
    return Status::NotFound("model '" + name + "' has no version " + std::to_string(version) + " loaded");
  }
  return v->second;
}

Expected<std::vector<std::shared_ptr<ModelVersion>>> ModelRepository::versions(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = models_.find(name);
  if (it == models_.end() || it->second.versions.empty()) return Status::NotFound("unknown model '" + name + "'");
  std::vector<std::shared_ptr<ModelVersion>> out;
  for (const auto& [v, mv] : it->second.versions) out.push_back(mv);
  return out;
}

Expected<std::vector<std::shared_ptr<ModelVersion>>> ModelRepository::select(const std::string& name,
                                                                             int64_t version) const {
  if (!name.empty() && version > 0) {
    KILN_ASSIGN_OR_RETURN(std::shared_ptr<ModelVersion> mv, find(name, version));
    return std::vector<std::shared_ptr<ModelVersion>>{std::move(mv)};
  }
  if (!name.empty()) return versions(name);
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::shared_ptr<ModelVersion>> out;
  for (const auto& [model_name, model] : models_) {
    for (const auto& [v, mv] : model.versions) out.push_back(mv);
  }
  return out;
}

std::vector<ModelIndexEntry> ModelRepository::index() const {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(options_.root, ec)) {
    if (entry.is_directory(ec) && entry.path().filename().string()[0] != '.') {
      names.push_back(entry.path().filename().string());
    }
  }
  std::sort(names.begin(), names.end());
  std::vector<ModelIndexEntry> out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const std::string& name : names) {
    auto it = models_.find(name);
    if (it == models_.end() || it->second.versions.empty()) {
      ModelIndexEntry e{name, 0, "UNAVAILABLE", "unloaded"};
      if (it != models_.end() && !it->second.error.ok()) e.reason = it->second.error.message();
      out.push_back(std::move(e));
      continue;
    }
    for (const auto& [v, mv] : it->second.versions) {
      out.push_back({name, v, shutting_down_ ? "UNLOADING" : "READY", ""});
    }
    // A reload that failed leaves the old versions serving; say so rather than hide it.
    if (!it->second.error.ok()) out.push_back({name, 0, "UNAVAILABLE", it->second.error.message()});
  }
  return out;
}

bool ModelRepository::ready() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (shutting_down_) return false;
  for (const auto& [name, m] : models_) {
    if (!m.error.ok() && m.versions.empty()) return false;
  }
  return true;
}

Status ModelRepository::infer(InferenceRequest request, InferenceCallback done) {
  // A version retired by a reload refuses new requests; the map then already holds its successor.
  // A few attempts cover back-to-back reloads.
  for (int attempt = 0;; ++attempt) {
    KILN_ASSIGN_OR_RETURN(std::shared_ptr<ModelVersion> mv, find(request.model, request.version));
    if (mv->retired() && attempt < 3) continue;
    // submit() takes the request; keep a copy for a retry (tensors are shared, not copied).
    InferenceRequest copy = attempt < 3 ? request : InferenceRequest{};
    Status st = mv->submit(std::move(request), done);
    if (st.ok() || !mv->retired() || attempt >= 3) return st;
    request = std::move(copy);
  }
}

std::vector<std::string> ModelRepository::poll() {
  std::vector<std::string> report;
  std::set<std::string> on_disk;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(options_.root, ec)) {
    if (entry.is_directory(ec) && entry.path().filename().string()[0] != '.') {
      on_disk.insert(entry.path().filename().string());
    }
  }
  std::vector<std::string> changed;
  std::vector<std::string> removed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shutting_down_) return report;
    for (const std::string& name : on_disk) {
      auto it = models_.find(name);
      if (it == models_.end() || it->second.fingerprint != model_fingerprint(options_.root, name)) {
        changed.push_back(name);
      }
    }
    for (const auto& [name, m] : models_) {
      if (!on_disk.count(name)) removed.push_back(name);
    }
  }
  for (const std::string& name : changed) {
    Status st = load_locked_free(name);
    report.push_back(st.ok() ? "model '" + name + "' loaded" : st.message());
  }
  for (const std::string& name : removed) {
    Status st = unload_locked_free(name);
    if (st.code() == StatusCode::kNotFound) {
      std::lock_guard<std::mutex> lock(mu_);
      models_.erase(name);  // it had only a failed load to forget
      continue;
    }
    report.push_back(st.ok() ? "model '" + name + "' unloaded: its folder is gone" : st.message());
  }
  return report;
}

void ModelRepository::shutdown() {
  std::vector<std::shared_ptr<ModelVersion>> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    shutting_down_ = true;
    for (auto& [name, m] : models_) {
      for (auto& [v, mv] : m.versions) all.push_back(mv);
    }
  }
  for (auto& mv : all) mv->shutdown();
}

}  // namespace kiln::serve
