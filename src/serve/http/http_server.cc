#include "serve/http/http_server.h"

#include <array>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <chrono>
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

// The per-request work is kept small, since for a small model it is most of a request's cost
// (bench/serve/run.py, tiny): a raw socket on the connection's strand with one idle timer that is
// armed once and re-armed only when it fires (rather than a timed stream's timer set and cancelled
// around every read and write), a response written as one gathered write of a reused header buffer
// and the body, and a response given on the connection's strand written at once rather than posted.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  using Strand = asio::strand<asio::io_context::executor_type>;
  using Socket = asio::basic_stream_socket<tcp, Strand>;

  Connection(Socket socket, std::shared_ptr<HttpServer::State> state, bool over_capacity)
      : socket_(std::move(socket)),
        idle_timer_(socket_.get_executor()),
        state_(std::move(state)),
        over_capacity_(over_capacity) {
    ++state_->connections;
  }
  ~Connection() {
    if (!closed_) --state_->connections;
  }

  void start() {
    asio::dispatch(socket_.get_executor(), [self = shared_from_this()] {
      self->idle_deadline_ = Clock::now() + self->state_->limits.idle_timeout;
      self->arm_idle_timer();
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
  using Clock = std::chrono::steady_clock;

  // The connection closes when idle_deadline_ passes. Moving the deadline is a store; the timer
  // wakes at the old one, sees the new one and sleeps again, so it costs nothing per request.
  void arm_idle_timer() {
    const Clock::time_point now = Clock::now();
    // While a handler works the deadline is max(); look again an idle timeout later.
    idle_timer_.expires_at(idle_deadline_ == Clock::time_point::max() ? now + state_->limits.idle_timeout
                                                                      : idle_deadline_);
    idle_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->closed_) return;
      if (Clock::now() >= self->idle_deadline_) return self->close();  // pending operations end aborted
      self->arm_idle_timer();
    });
  }

  void read() {
    response_started_ = false;
    parser_.emplace();
    parser_->body_limit(state_->limits.max_body_bytes);
    parser_->header_limit(static_cast<std::uint32_t>(state_->limits.max_header_bytes));
    idle_deadline_ = Clock::now() + state_->limits.idle_timeout;
    bhttp::async_read_header(socket_, buffer_, *parser_,
                             [self = shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
  }

  // Clients such as curl send "Expect: 100-continue" before a large body and wait (curl: 1 s) for a
  // go-ahead; answer at once so large requests are not delayed. An oversize Content-Length has
  // already failed the header read with body_limit, so it gets 413 instead.
  void on_header(beast::error_code ec) {
    if (ec) return on_read(ec);
    if (beast::iequals(parser_->get()[bhttp::field::expect], "100-continue")) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      asio::async_write(socket_, asio::buffer(kContinue.data(), kContinue.size()),
                        [self = shared_from_this()](beast::error_code ec, size_t) {
                          if (ec) return self->close();
                          self->read_body();
                        });
      return;
    }
    read_body();
  }

  void read_body() {
    bhttp::async_read(socket_, buffer_, *parser_,
                      [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == bhttp::error::end_of_stream || ec == asio::error::operation_aborted ||
        ec == asio::error::connection_reset || ec == asio::error::eof || ec == asio::error::bad_descriptor) {
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
    idle_deadline_ = Clock::time_point::max();  // the client may wait as long as the handler works
    // On the strand (a handler answering at once, or a task it posted here) the write starts now;
    // from another thread it is posted to the strand.
    Responder respond = [self = shared_from_this()](HttpResponse res) {
      if (self->socket_.get_executor().running_in_this_thread()) return self->write(std::move(res));
      asio::post(self->socket_.get_executor(),
                 [self, res = std::move(res)]() mutable { self->write(std::move(res)); });
    };
    // The flag of the last request is reused when no one else holds it any more (one malloc less).
    if (gone_ == nullptr || gone_.use_count() > 1) {
      gone_ = std::make_shared<Cancellation>();
    } else {
      gone_->reset();
    }
    const ClientGone& gone = gone_;
    try {
      state_->handler(std::move(request), std::move(respond), gone);
    } catch (const std::exception& e) {
      // Handlers catch their own; this is the last line so one bad request cannot end the server.
      if (!response_started_) write(json_response(500, error_body(std::string("internal error: ") + e.what())));
    } catch (...) {
      if (!response_started_) write(json_response(500, error_body("internal error")));
    }
    if (gone.use_count() > 1) watch(gone);
  }

  // Reads while the handler works: a client waiting for its answer sends nothing, so a read that ends
  // (end of stream, reset) means it went away. Bytes that do arrive (a pipelined next request) stay in
  // the buffer for read(), and the watch ends there.
  void watch(ClientGone gone) {
    if (response_started_) return;
    watching_ = true;
    socket_.async_read_some(buffer_.prepare(kWatchBytes),
                            [self = shared_from_this(), gone = std::move(gone)](beast::error_code ec, size_t n) {
                              self->on_watch(ec, n, *gone);
                            });
  }

  void on_watch(beast::error_code ec, size_t n, Cancellation& gone) {
    watching_ = false;
    buffer_.commit(n);
    if (ec && ec != asio::error::operation_aborted) {
      keep_alive_ = false;
      gone.cancel();  // a queued request may be answered (Cancelled) right here, on this strand
    }
    if (read_after_watch_) {
      read_after_watch_ = false;
      read();
    }
  }

  // The status line and headers go into head_, kept between responses so that its memory is reused;
  // the body is sent from the response itself, in the same system call.
  void serialize_head(const HttpResponse& res) {
    head_.clear();
    head_ += "HTTP/1.1 ";
    head_ += std::to_string(res.result_int());
    head_ += ' ';
    const auto reason = res.reason();
    head_.append(reason.data(), reason.size());
    head_ += "\r\nServer: kiln\r\n";
    for (const auto& field : res) {
      // The connection decides these itself.
      const bhttp::field name = field.name();
      if (name == bhttp::field::server || name == bhttp::field::content_length || name == bhttp::field::connection ||
          name == bhttp::field::transfer_encoding) {
        continue;
      }
      const auto n = field.name_string();
      const auto v = field.value();
      head_.append(n.data(), n.size());
      head_ += ": ";
      head_.append(v.data(), v.size());
      head_ += "\r\n";
    }
    head_ += "Content-Length: ";
    head_ += std::to_string(res.body().size());
    head_ += keep_alive_ ? "\r\n\r\n" : "\r\nConnection: close\r\n\r\n";
  }

  void write(HttpResponse res) {
    response_started_ = true;
    if (watching_) socket_.cancel();  // ends the watch; no write is pending yet
    response_ = std::move(res);
    serialize_head(response_);
    // A client that stops reading must not hold the connection forever.
    idle_deadline_ = Clock::now() + state_->limits.idle_timeout;
    const std::array<asio::const_buffer, 2> buffers{asio::buffer(head_), asio::buffer(response_.body())};
    asio::async_write(socket_, buffers, [self = shared_from_this()](beast::error_code ec, size_t) {
      --self->state_->requests;
      self->response_ = {};  // a large body is not kept while the connection idles
      if (ec || !self->keep_alive_) return self->close();
      // A cancelled watch's handler may not have run yet: one read at a time on a socket.
      if (self->watching_) {
        self->read_after_watch_ = true;
        return;
      }
      self->read();
    });
  }

  // The slot under --max-connections is free once the socket is closed: the client sees the close
  // at once, while this object lives on until its aborted operations' handlers have run.
  void close() {
    if (!closed_) --state_->connections;
    closed_ = true;
    beast::error_code ignored;
    idle_timer_.cancel();
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    socket_.close(ignored);
  }

  Socket socket_;
  asio::basic_waitable_timer<Clock, asio::wait_traits<Clock>, Strand> idle_timer_;
  Clock::time_point idle_deadline_ = Clock::time_point::max();
  bool closed_ = false;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  HttpResponse response_;  // being written
  std::string head_;       // its status line and headers
  std::shared_ptr<HttpServer::State> state_;
  bool over_capacity_;
  bool keep_alive_ = true;
  // The watch for a client going away (see watch()); all touched only on the connection's strand.
  static constexpr size_t kWatchBytes = 4096;
  bool watching_ = false;
  bool response_started_ = false;  // write() has begun for the current request
  bool read_after_watch_ = false;  // the response is out; read() once the cancelled watch ends
  ClientGone gone_;                // the current request's
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
  acceptor_.async_accept(asio::make_strand(ioc_), [this](beast::error_code ec, Connection::Socket socket) {
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
