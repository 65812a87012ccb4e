#include "serve/http/access_log.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <chrono>
#include <cstdio>
#include <ctime>

namespace kiln::serve::http {

namespace {

// UTC, ISO 8601 with milliseconds: "2026-11-23T12:00:00.123Z".
std::string now_utc() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[96];  // room for any int the compiler cannot rule out, not just real dates
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

}  // namespace

std::string format_access_record(const AccessRecord& r, bool json) {
  if (json) {
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
    w.StartObject();
    w.Key("time");
    w.String(now_utc());
    w.Key("method");
    w.String(r.method);
    w.Key("target");
    w.String(r.target);
    w.Key("status");
    w.Uint(r.status);
    w.Key("latency_ms");
    w.Double(r.latency_ms);
    if (!r.model.empty()) {
      w.Key("model");
      w.String(r.model);
    }
    if (r.version > 0) {
      w.Key("version");
      w.Int64(r.version);
    }
    if (!r.request_id.empty()) {
      w.Key("id");
      w.String(r.request_id);
    }
    w.Key("bytes_in");
    w.Uint64(r.bytes_in);
    w.Key("bytes_out");
    w.Uint64(r.bytes_out);
    w.EndObject();
    return std::string(buffer.GetString(), buffer.GetSize());
  }
  char latency[32];
  std::snprintf(latency, sizeof(latency), "%.3fms", r.latency_ms);
  std::string line = now_utc() + " " + r.method + " " + r.target + " " + std::to_string(r.status) + " " + latency;
  if (!r.model.empty()) line += " model=" + r.model;
  if (r.version > 0) line += " version=" + std::to_string(r.version);
  // The id is client-chosen: keep it on one line and unambiguous.
  if (!r.request_id.empty()) {
    line += " id=";
    for (char c : r.request_id) line += (static_cast<unsigned char>(c) < 0x21 || c == 0x7f) ? '_' : c;
  }
  line += " in=" + std::to_string(r.bytes_in) + " out=" + std::to_string(r.bytes_out);
  return line;
}

}  // namespace kiln::serve::http
