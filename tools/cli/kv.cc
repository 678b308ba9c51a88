// `shoal put|get|del`: one request to one node (--node, or the first
// running node of the ring in --dir).
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "base/base64.h"
#include "client/client.h"
#include "quorum/level.h"
#include "ring/ring.h"
#include "tools/cli/common.h"
#include "tools/cli/output.h"
#include "tools/cli/verbs.h"
#include "tools/ring/launcher.h"
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

// The bytes of `path` (- = stdin); `flag` names the option in errors.
Result<std::string> ReadWholeFile(const std::string& path,
                                  const std::string& flag) {
  std::ostringstream buf;
  if (path == "-") {
    buf << std::cin.rdbuf();
    if (std::cin.bad()) {
      return Status(Code::kInvalidArgument, flag + ": cannot read stdin");
    }
    return buf.str();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status(Code::kInvalidArgument, flag + ": cannot open " + path);
  }
  buf << in.rdbuf();
  return buf.str();
}

// --session FILE: the session token (base64 text) kept between
// invocations. A missing file starts a new session.
Result<client::Session> LoadSession(const std::string& path) {
  client::Session session;
  if (path.empty() || !std::filesystem::exists(path)) return session;
  Result<std::string> text = ReadWholeFile(path, "--session");
  if (!text.ok()) return text.status();
  std::string trimmed = *text;
  while (!trimmed.empty() &&
         std::isspace(static_cast<unsigned char>(trimmed.back()))) {
    trimmed.pop_back();
  }
  Result<std::string> bytes = Base64Decode(trimmed);
  if (!bytes.ok()) {
    return Status(Code::kInvalidArgument,
                  "--session " + path + " does not hold a session token (" +
                      bytes.status().message() +
                      "); give a file a session request wrote, or a new path");
  }
  Result<client::Session> loaded = client::Session::FromToken(*bytes);
  if (!loaded.ok()) {
    return Status(Code::kInvalidArgument,
                  "--session " + path + ": " + loaded.status().message());
  }
  return loaded;
}

// Writes the session a reply carried back to --session FILE; the JSON
// output names it.
Status SaveSession(const std::string& path, const client::Session& session) {
  if (path.empty()) return Status::Ok();
  return tools::WriteFileAtomically(path, Base64Encode(session.token()) + "\n");
}

// {"file": F, "keys": N}: the session a reply left in F.
Json SessionJson(const std::string& path, const client::Session& session) {
  return Json{{"file", path}, {"keys", session.keys()}};
}

struct WriteArgs {
  Common common;
  std::string key;
  std::string value;
  bool has_value = false;  // VALUE was given (it may be empty)
  std::string value_file;
  std::string context;
  std::string session_file;
  uint32_t w = 0;
  uint32_t pw = 0;
  uint32_t timeout_ms = 0;
  std::string level;  // --level; "" = explicit counts
};

// --level's value; "" is the explicit counts (--w/--r or the cluster's).
Result<quorum::Level> LevelFlag(const std::string& text) {
  if (text.empty()) return quorum::Level::kExplicit;
  auto level = quorum::ParseLevel(text);
  if (!level.ok()) {
    return Status(Code::kInvalidArgument,
                  "--level: " + level.status().message());
  }
  return level;
}

int RunWrite(const WriteArgs& args, bool is_delete) {
  const bool as_json = args.common.json;
  PutOptions options;
  auto level = LevelFlag(args.level);
  if (!level.ok()) return Fail(level.status(), as_json);
  options.level = *level;
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
      Result<std::string> read = ReadWholeFile(args.value_file, "--value-file");
      if (!read.ok()) return Fail(read.status(), as_json);
      value = std::move(read).value();
    } else {
      value = args.value;
    }
  }
  Result<client::Session> session = LoadSession(args.session_file);
  if (!session.ok()) return Fail(session.status(), as_json);
  if (!args.session_file.empty()) options.session = &session.value();
  Result<std::string> address = ResolveNode(args.common);
  if (!address.ok()) return Fail(address.status(), as_json);

  asio::io_context io;
  Client client(io.get_executor(), *address);
  Result<PutResult> reply =
      is_delete ? RunCall(io, client.Delete(args.key, options))
                : RunCall(io, client.Put(args.key, std::move(value), options));
  if (!reply.ok()) return Fail(reply.status(), as_json);
  if (Status st = SaveSession(args.session_file, *session); !st.ok()) {
    return Fail(st, as_json);
  }
  if (as_json) {
    Json out = PutResultToJson(*reply);
    if (options.session)
      out["session"] = SessionJson(args.session_file, *session);
    PrintJson(out);
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
  std::string session_file;
  std::string level;
};

int RunGet(const GetArgs& args) {
  const bool as_json = args.common.json;
  Result<client::Session> session = LoadSession(args.session_file);
  if (!session.ok()) return Fail(session.status(), as_json);
  Result<std::string> address = ResolveNode(args.common);
  if (!address.ok()) return Fail(address.status(), as_json);
  asio::io_context io;
  Client client(io.get_executor(), *address);
  auto level = LevelFlag(args.level);
  if (!level.ok()) return Fail(level.status(), as_json);
  GetOptions options{.r = args.r,
                     .timeout_ms = args.timeout_ms,
                     .local = args.local,
                     .pr = args.pr,
                     .level = *level};
  if (!args.session_file.empty()) options.session = &session.value();
  Result<GetResult> result = RunCall(io, client.Get(args.key, options));
  if (!result.ok()) return Fail(result.status(), as_json);
  if (Status st = SaveSession(args.session_file, *session); !st.ok()) {
    return Fail(st, as_json);
  }
  if (as_json) {
    Json out = GetResultToJson(*result, args.local);
    if (options.session)
      out["session"] = SessionJson(args.session_file, *session);
    PrintJson(out);
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
  put->add_option(
      "--session", put_args->session_file,
      "keep a session in F (created if missing): this request sees the writes "
      "and reads of the earlier requests made with F, through any node, or "
      "fails naming the guarantee; F may be copied to another client");
  auto* put_w = put->add_option("--w", put_args->w,
                                "acks to wait for (default: cluster w)");
  put->add_option(
         "--level", put_args->level,
         "consistency level instead of a count: quorum (n/2+1 of all "
         "replicas), local_quorum (n_dc/2+1 in the asked node's datacenter) "
         "or each_quorum (n_dc/2+1 in every datacenter)")
      ->excludes(put_w);
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
  auto* get_r = get->add_option("--r", get_args->r,
                                "replies to wait for (default: cluster r)");
  get->add_option(
         "--level", get_args->level,
         "consistency level instead of a count: quorum (n/2+1 of all "
         "replicas), local_quorum (n_dc/2+1 in the asked node's datacenter) "
         "or each_quorum (n_dc/2+1 in every datacenter)")
      ->excludes(get_r);
  get->add_option("--pr", get_args->pr,
                  "of those, replies that must come from primary replicas "
                  "(default 0)");
  get->add_option(
      "--session", get_args->session_file,
      "keep a session in F (created if missing): this request sees the writes "
      "and reads of the earlier requests made with F, through any node, or "
      "fails naming the guarantee; F may be copied to another client");
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
  del->add_option(
      "--session", del_args->session_file,
      "keep a session in F (created if missing): this request sees the writes "
      "and reads of the earlier requests made with F, through any node, or "
      "fails naming the guarantee; F may be copied to another client");
  auto* del_w = del->add_option("--w", del_args->w,
                                "acks to wait for (default: cluster w)");
  del->add_option(
         "--level", del_args->level,
         "consistency level instead of a count: quorum (n/2+1 of all "
         "replicas), local_quorum (n_dc/2+1 in the asked node's datacenter) "
         "or each_quorum (n_dc/2+1 in every datacenter)")
      ->excludes(del_w);
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
