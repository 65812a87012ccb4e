#include "serve/http/http_server.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <optional>

namespace kiln::serve::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

struct HttpServer::State {
  HttpLimits limits;
  HttpHandler handler;
  std::atomic<int64_t> connections{0};
  std::atomic<int64_t> requests{0};
};

HttpResponse json_response(unsigned status, std::string body) {
  HttpResponse res{static_cast<bhttp::status>(status), 11};
  res.set(bhttp::field::server, "kiln");
  res.set(bhttp::field::content_type, "application/json");
  res.body() = std::move(body);
  return res;
}

namespace {

// Escapes a message for a JSON string; kept here so the server's own errors need no JSON library.
std::string error_body(std::string_view message) {
  std::string out = "{\"error\":\"";
  for (char c : message) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
    out += c;
  }
  return out + "\"}";
}

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, std::shared_ptr<HttpServer::State> state, bool over_capacity)
      : stream_(std::move(socket)), state_(std::move(state)), over_capacity_(over_capacity) {
    ++state_->connections;
  }
  ~Connection() { --state_->connections; }

  void start() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      if (self->over_capacity_) {
        self->keep_alive_ = false;
        ++self->state_->requests;  // write()'s completion counts every response out again
        self->write(json_response(503, error_body("the server is at its connection limit; retry later")));
        return;
      }
      self->read();
    });
  }

 private:
  void read() {
    response_started_ = false;
    parser_.emplace();
    parser_->body_limit(state_->limits.max_body_bytes);
    parser_->header_limit(static_cast<std::uint32_t>(state_->limits.max_header_bytes));
    stream_.expires_after(state_->limits.idle_timeout);
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
  }

  // Clients such as curl send "Expect: 100-continue" before a large body and wait (curl: 1 s) for a
  // go-ahead; answer at once so large requests are not delayed. An oversize Content-Length has
  // already failed the header read with body_limit, so it gets 413 instead.
  void on_header(beast::error_code ec) {
    if (ec) return on_read(ec);
    if (beast::iequals(parser_->get()[bhttp::field::expect], "100-continue")) {
      auto go_ahead = std::make_shared<bhttp::response<bhttp::empty_body>>(bhttp::status::continue_, 11);
      bhttp::async_write(stream_, *go_ahead, [self = shared_from_this(), go_ahead](beast::error_code ec, size_t) {
        if (ec) return self->close();
        self->read_body();
      });
      return;
    }
    read_body();
  }

  void read_body() {
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == bhttp::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::operation_aborted ||
        ec == asio::error::connection_reset || ec == asio::error::eof) {
      return close();
    }
    if (ec) {
      // A request the parser rejects leaves the stream out of sync, so answer and close.
      keep_alive_ = false;
      ++state_->requests;
      if (ec == bhttp::error::body_limit) {
        return write(json_response(413, error_body("request body exceeds the limit of " +
                                                   std::to_string(state_->limits.max_body_bytes) + " bytes")));
      }
      if (ec == bhttp::error::header_limit) {
        return write(json_response(431, error_body("request header exceeds the limit of " +
                                                   std::to_string(state_->limits.max_header_bytes) + " bytes")));
      }
      return write(json_response(400, error_body("malformed HTTP request: " + ec.message())));
    }
    HttpRequest request = parser_->release();
    keep_alive_ = request.keep_alive();
    ++state_->requests;
    stream_.expires_never();  // the client may wait as long as the handler works
    auto executor = stream_.get_executor();
    auto self = shared_from_this();
    Responder respond = [self, executor](HttpResponse res) {
      asio::post(executor, [self, res = std::move(res)]() mutable { self->write(std::move(res)); });
    };
    auto gone = std::make_shared<std::atomic<bool>>(false);
    try {
      state_->handler(std::move(request), std::move(respond), gone);
    } catch (const std::exception& e) {
      // Handlers catch their own; this is the last line so one bad request cannot end the server.
      write(json_response(500, error_body(std::string("internal error: ") + e.what())));
    } catch (...) {
      write(json_response(500, error_body("internal error")));
    }
    if (gone.use_count() > 1) watch(std::move(gone));
  }

  // Reads while the handler works: a client waiting for its answer sends nothing, so a read that ends
  // (end of stream, reset) means it went away. Bytes that do arrive (a pipelined next request) stay in
  // the buffer for read(), and the watch ends there.
  void watch(std::shared_ptr<std::atomic<bool>> gone) {
    if (response_started_) return;
    watching_ = true;
    stream_.async_read_some(buffer_.prepare(kWatchBytes),
                            [self = shared_from_this(), gone = std::move(gone)](beast::error_code ec, size_t n) {
                              self->on_watch(ec, n, *gone);
                            });
  }

  void on_watch(beast::error_code ec, size_t n, std::atomic<bool>& gone) {
    watching_ = false;
    buffer_.commit(n);
    if (ec && ec != asio::error::operation_aborted) {
      gone = true;
      keep_alive_ = false;
    }
    if (read_after_watch_) {
      read_after_watch_ = false;
      read();
    }
  }

  void write(HttpResponse res) {
    response_started_ = true;
    if (watching_) stream_.cancel();  // ends the watch; no write is pending yet
    res.keep_alive(keep_alive_);
    res.set(bhttp::field::server, "kiln");
    res.prepare_payload();
    auto owned = std::make_shared<HttpResponse>(std::move(res));
    // A client that stops reading must not hold the connection forever.
    stream_.expires_after(state_->limits.idle_timeout);
    bhttp::async_write(stream_, *owned, [self = shared_from_this(), owned](beast::error_code ec, size_t) {
      --self->state_->requests;
      if (ec || !self->keep_alive_) return self->close();
      // A cancelled watch's handler may not have run yet: one read at a time on a socket.
      if (self->watching_) {
        self->read_after_watch_ = true;
        return;
      }
      self->read();
    });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.socket().close(ignored);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::shared_ptr<HttpServer::State> state_;
  bool over_capacity_;
  bool keep_alive_ = true;
  // The watch for a client going away (see watch()); all touched only on the connection's strand.
  static constexpr size_t kWatchBytes = 4096;
  bool watching_ = false;
  bool response_started_ = false;  // write() has begun for the current request
  bool read_after_watch_ = false;  // the response is out; read() once the cancelled watch ends
};

}  // namespace

HttpServer::HttpServer(asio::io_context& ioc, HttpLimits limits, HttpHandler handler)
    : ioc_(ioc), acceptor_(asio::make_strand(ioc)), state_(std::make_shared<State>()) {
  state_->limits = limits;
  state_->handler = std::move(handler);
}

HttpServer::~HttpServer() {
  // The io_context no longer runs here (see the header), so closing directly cannot race a handler.
  beast::error_code ignored;
  acceptor_.close(ignored);
}

Status HttpServer::listen(const std::string& address, uint16_t port) {
  beast::error_code ec;
  const auto ip = asio::ip::make_address(address, ec);
  if (ec) return Status::InvalidArgument("address '" + address + "': " + ec.message());
  const tcp::endpoint endpoint(ip, port);
  const std::string where = address + ":" + std::to_string(port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Status::IOError("cannot listen on " + where + ": " + ec.message());
  port_ = acceptor_.local_endpoint().port();
  accept();
  return Status::OK();
}

void HttpServer::accept() {
  acceptor_.async_accept(asio::make_strand(ioc_), [this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (!ec) {
      const bool over = state_->connections.load() >= state_->limits.max_connections;
      std::make_shared<Connection>(std::move(socket), state_, over)->start();
    }
    accept();
  });
}

void HttpServer::stop_accepting() {
  asio::post(acceptor_.get_executor(), [this] {
    beast::error_code ignored;
    acceptor_.close(ignored);
  });
}

int64_t HttpServer::active_requests() const { return state_->requests.load(); }
int64_t HttpServer::open_connections() const { return state_->connections.load(); }

}  // namespace kiln::serve::http
