// HttpGet: one HTTP/1.0 GET on a private io_context (connect, write the
// request, read until the server closes), bounded by the caller's timeout.
#include "tools/ring/http_get.h"

#include <array>
#include <boost/asio.hpp>
#include <cstdlib>
#include <functional>

#include "wire/connection.h"

namespace shoal::tools {
namespace asio = boost::asio;

Result<std::string> HttpGet(const std::string& address, const std::string& path,
                            std::chrono::milliseconds timeout) {
  auto endpoint = wire::ParseEndpoint(address);
  if (!endpoint.ok()) return endpoint.status();
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  std::string request = "GET " + path + " HTTP/1.0\r\nHost: " + address +
                        "\r\nAccept: text/plain\r\nConnection: close\r\n\r\n";
  std::string response;
  std::array<char, 16384> buffer;
  boost::system::error_code failure;
  bool done = false;
  // Connect, write, then read until the server closes (HTTP/1.0).
  std::function<void()> read_more = [&] {
    socket.async_read_some(asio::buffer(buffer),
                           [&](boost::system::error_code ec, size_t n) {
                             response.append(buffer.data(), n);
                             if (ec == asio::error::eof) {
                               done = true;
                             } else if (ec) {
                               failure = ec;
                             } else {
                               read_more();
                             }
                           });
  };
  socket.async_connect(*endpoint, [&](boost::system::error_code ec) {
    if (ec) {
      failure = ec;
      return;
    }
    asio::async_write(socket, asio::buffer(request),
                      [&](boost::system::error_code wec, size_t) {
                        if (wec) {
                          failure = wec;
                          return;
                        }
                        read_more();
                      });
  });
  io.run_for(timeout);
  if (failure) {
    return Status(Code::kUnavailable,
                  "http://" + address + path + ": " + failure.message());
  }
  if (!done) {
    return Status(Code::kTimeout, "http://" + address + path +
                                      ": no complete answer within " +
                                      std::to_string(timeout.count()) + " ms");
  }
  const size_t head_end = response.find("\r\n\r\n");
  if (head_end == std::string::npos || response.compare(0, 5, "HTTP/") != 0) {
    return Status(Code::kUnavailable,
                  "http://" + address + path + ": not an HTTP answer");
  }
  const size_t sp = response.find(' ');
  const int code = std::atoi(response.c_str() + sp + 1);
  if (code != 200) {
    const size_t eol = response.find("\r\n");
    return Status(Code::kUnavailable,
                  "http://" + address + path + ": " + response.substr(0, eol));
  }
  return response.substr(head_end + 4);
}

}  // namespace shoal::tools
