// `shoal put|get|del`: one request to one node (--node, or the first
// running node of the ring in --dir).
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "base/base64.h"
#include "client/client.h"
#include "ring/ring.h"
#include "tools/cli/common.h"
#include "tools/cli/output.h"
#include "tools/cli/verbs.h"
#include "wire/codec.h"

namespace shoal::tools::cli {
namespace {

using client::Client;
using client::GetOptions;
using client::GetResult;
using client::PutOptions;
using client::PutResult;

// --context: base64 of the packed context bytes a get or put printed.
// The context must have been read from `key` (contexts are bound to keys).
Result<std::string> ParseContext(const std::string& text,
                                 const std::string& key) {
  Result<std::string> bytes = Base64Decode(text);
  if (!bytes.ok()) {
    return Status(Code::kInvalidArgument,
                  "--context is not base64 (" + bytes.status().message() +
                      "); pass the context a get or put printed");
  }
  Result<quorum::VersionVector> vv =
      wire::DecodeContext(*bytes, ring::HashKey(key));
  if (!vv.ok()) {
    return Status(Code::kInvalidArgument,
                  "--context: " + vv.status().message());
  }
  return bytes;
}

Result<std::string> ReadValueFile(const std::string& path) {
  std::ostringstream buf;
  if (path == "-") {
    buf << std::cin.rdbuf();
    if (std::cin.bad()) {
      return Status(Code::kInvalidArgument, "cannot read the value from stdin");
    }
    return buf.str();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status(Code::kInvalidArgument, "--value-file: cannot open " + path);
  }
  buf << in.rdbuf();
  return buf.str();
}

struct WriteArgs {
  Common common;
  std::string key;
  std::string value;
  bool has_value = false;  // VALUE was given (it may be empty)
  std::string value_file;
  std::string context;
  uint32_t w = 0;
  uint32_t pw = 0;
  uint32_t timeout_ms = 0;
};

int RunWrite(const WriteArgs& args, bool is_delete) {
  const bool as_json = args.common.json;
  PutOptions options;
  options.w = args.w;
  options.pw = args.pw;
  options.timeout_ms = args.timeout_ms;
  if (!args.context.empty()) {
    Result<std::string> context = ParseContext(args.context, args.key);
    if (!context.ok()) return Fail(context.status(), as_json);
    options.context = std::move(context).value();
  }
  std::string value;
  if (!is_delete) {
    if (!args.value_file.empty()) {
      Result<std::string> read = ReadValueFile(args.value_file);
      if (!read.ok()) return Fail(read.status(), as_json);
      value = std::move(read).value();
    } else {
      value = args.value;
    }
  }
  Result<std::string> address = ResolveNode(args.common);
  if (!address.ok()) return Fail(address.status(), as_json);

  asio::io_context io;
  Client client(io.get_executor(), *address);
  Result<PutResult> reply =
      is_delete ? RunCall(io, client.Delete(args.key, options))
                : RunCall(io, client.Put(args.key, std::move(value), options));
  if (!reply.ok()) return Fail(reply.status(), as_json);
  if (as_json) {
    PrintJson(PutResultToJson(*reply));
  } else {
    std::cout << PutResultToText(*reply);
  }
  return kExitOk;
}

struct GetArgs {
  Common common;
  std::string key;
  uint32_t r = 0;
  uint32_t pr = 0;
  uint32_t timeout_ms = 0;
  bool local = false;
};

int RunGet(const GetArgs& args) {
  const bool as_json = args.common.json;
  Result<std::string> address = ResolveNode(args.common);
  if (!address.ok()) return Fail(address.status(), as_json);
  asio::io_context io;
  Client client(io.get_executor(), *address);
  GetOptions options{.r = args.r,
                     .timeout_ms = args.timeout_ms,
                     .local = args.local,
                     .pr = args.pr};
  Result<GetResult> result = RunCall(io, client.Get(args.key, options));
  if (!result.ok()) return Fail(result.status(), as_json);
  if (as_json) {
    PrintJson(GetResultToJson(*result, args.local));
  } else {
    std::cout << GetResultToText(*result, args.local);
  }
  return kExitOk;
}

}  // namespace

void AddKvVerbs(CLI::App& app, Verbs& verbs) {
  // put
  auto put_args = std::make_shared<WriteArgs>();
  put_args->common.dir = verbs.default_dir;
  CLI::App* put = app.add_subcommand("put", "write a value");
  put->add_option("key", put_args->key, "the key (1..500 bytes)")->required();
  CLI::Option* put_value =
      put->add_option("value", put_args->value, "the value");
  CLI::Option* put_file = put->add_option("--value-file", put_args->value_file,
                                          "read the value from F (- = stdin)");
  put_value->excludes(put_file);
  put->add_option("--context", put_args->context,
                  "context (base64) from a get: the write supersedes what "
                  "that get saw; without it the write is blind and becomes "
                  "a sibling");
  put->add_option("--w", put_args->w, "acks to wait for (default: cluster w)");
  put->add_option("--pw", put_args->pw,
                  "of those, acks that must come from primary replicas "
                  "(a fallback keeping a hint counts toward --w, not --pw; "
                  "default 0)");
  put->add_option("--timeout", put_args->timeout_ms,
                  "request timeout in ms (default: node's, 2000)");
  AddCommon(put, &put_args->common, true);
  verbs.On(put, [put_args, put_value] {
    put_args->has_value = put_value->count() > 0;
    if (!put_args->has_value && put_args->value_file.empty()) {
      return UsageError("put: give VALUE or --value-file");
    }
    return RunWrite(*put_args, /*is_delete=*/false);
  });

  // get
  auto get_args = std::make_shared<GetArgs>();
  get_args->common.dir = verbs.default_dir;
  CLI::App* get = app.add_subcommand("get", "read a key");
  get->add_option("key", get_args->key, "the key")->required();
  get->add_option("--r", get_args->r,
                  "replies to wait for (default: cluster r)");
  get->add_option("--pr", get_args->pr,
                  "of those, replies that must come from primary replicas "
                  "(default 0)");
  get->add_option("--timeout", get_args->timeout_ms,
                  "request timeout in ms (default: node's, 2000)");
  get->add_flag("--local", get_args->local,
                "diagnostic: the asked node's own stored copy, no quorum "
                "(shows tombstones and the version vector)");
  AddCommon(get, &get_args->common, true);
  verbs.On(get, [get_args] { return RunGet(*get_args); });

  // del
  auto del_args = std::make_shared<WriteArgs>();
  del_args->common.dir = verbs.default_dir;
  CLI::App* del = app.add_subcommand("del", "delete a key (a tombstone)");
  del->add_option("key", del_args->key, "the key")->required();
  del->add_option("--context", del_args->context,
                  "context (base64) from a get: deletes what that get saw; "
                  "without it the delete is blind and removes nothing it "
                  "has not seen (it becomes a tombstone sibling)");
  del->add_option("--w", del_args->w, "acks to wait for (default: cluster w)");
  del->add_option("--pw", del_args->pw,
                  "of those, acks that must come from primary replicas "
                  "(a fallback keeping a hint counts toward --w, not --pw; "
                  "default 0)");
  del->add_option("--timeout", del_args->timeout_ms,
                  "request timeout in ms (default: node's, 2000)");
  AddCommon(del, &del_args->common, true);
  verbs.On(del, [del_args] { return RunWrite(*del_args, /*is_delete=*/true); });
}

}  // namespace shoal::tools::cli
