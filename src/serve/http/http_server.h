// HttpServer: an HTTP/1.1 server on Boost.Beast (its parser; responses are written by the server)
// with keep-alive, a body size limit (413), a header size limit, an idle timeout and a cap on open
// connections (503 beyond it). A response carries the handler's status, headers and body; the server
// sets Server, Content-Length and Connection itself.
//
// It knows nothing of KServe: each request goes to an HttpHandler, which answers through a Responder
// from any thread, now or later (an inference answers from a scheduler thread). Requests on one
// connection are answered in order, one at a time, as HTTP/1.1 without pipelining requires. While a
// handler works, the connection is watched, so a client that goes away is noticed (ClientGone).
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "kiln/status.h"
#include "serve/cancellation.h"

namespace kiln::serve::http {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;

// Sends the response for one request. Call exactly once, from any thread. Called on the connection's
// strand (from within the handler, which runs there), the write starts at once; from another thread
// it is posted to the strand.
using Responder = std::function<void(HttpResponse)>;
// Raised (Cancellation::cancel, on the connection's strand) when the client closes its connection
// before the response is written. The server only watches for that while the handler keeps a
// reference to it after it returns (an inference answering later does; a metadata request answering
// at once need not pay for the watch). A client that half-closes (shuts down its sending side) counts
// as gone, as nginx counts it.
using ClientGone = std::shared_ptr<Cancellation>;
// Handles one request. Must not throw; the server turns an escaped exception into a 500 regardless.
using HttpHandler = std::function<void(HttpRequest&& request, Responder respond, ClientGone client_gone)>;

struct HttpLimits {
  size_t max_body_bytes = size_t{64} << 20;  // a 4096x4096 FP32 tensor in binary form still fits
  size_t max_header_bytes = 16 << 10;
  int max_connections = 1024;
  std::chrono::seconds idle_timeout{60};  // a connection with no complete request for this long closes
};

class HttpServer {
 public:
  // The server runs on `ioc`, which the caller runs on its threads and keeps alive longer than this.
  HttpServer(boost::asio::io_context& ioc, HttpLimits limits, HttpHandler handler);
  // Destroy only after `ioc` has stopped running: pending accepts refer to this object.
  ~HttpServer();

  // Binds and starts accepting. Port 0 picks a free port (see port()). Fails with IOError naming
  // the address when the address is taken or invalid.
  Status listen(const std::string& address, uint16_t port);
  uint16_t port() const { return port_; }

  // Stops accepting new connections; open ones keep being served. Thread-safe.
  void stop_accepting();
  // Requests read but not yet fully answered.
  int64_t active_requests() const;
  int64_t open_connections() const;

  struct State;  // shared with the connections, which may outlive a stopped server briefly

 private:
  void accept();

  boost::asio::io_context& ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::shared_ptr<State> state_;
  uint16_t port_ = 0;
};

// A response with a JSON body ("application/json").
HttpResponse json_response(unsigned status, std::string body);

}  // namespace kiln::serve::http
