// Anti-entropy trees saved at a clean shutdown (trees.capnp).
#include <capnp/serialize.h>

#include <set>
#include <string>

#include "wire/codec.h"
#include "wire/codec_internal.h"
#include "wire/trees.capnp.h"

namespace shoal::wire {
namespace {

namespace sc = ::shoal::wire::schema;

Result<SavedTrees> ReadSavedTrees(sc::SavedTrees::Reader r) {
  SavedTrees out;
  out.format = r.getFormat();
  out.partitions = r.getPartitions();
  out.segments = r.getSegments();
  std::set<uint32_t> seen;
  out.trees.reserve(r.getTrees().size());
  for (sc::SavedTree::Reader t : r.getTrees()) {
    const uint32_t p = t.getPartition();
    if (p >= out.partitions || !seen.insert(p).second) {
      return Status(
          Code::kCorruption,
          "saved trees: partition " + std::to_string(p) +
              (p >= out.partitions ? " is out of range" : " is saved twice"));
    }
    auto leaves = t.getLeaves();
    if (leaves.size() != out.segments) {
      return Status(Code::kCorruption,
                    "saved trees: partition " + std::to_string(p) + " has " +
                        std::to_string(leaves.size()) + " leaves, not " +
                        std::to_string(out.segments));
    }
    SavedTree tree{.partition = p, .leaves = {}};
    tree.leaves.reserve(leaves.size());
    for (uint64_t leaf : leaves) tree.leaves.push_back(leaf);
    out.trees.push_back(std::move(tree));
  }
  return out;
}

}  // namespace

std::string EncodeSavedTrees(const SavedTrees& saved) {
  capnp::MallocMessageBuilder builder;
  auto root = builder.initRoot<sc::SavedTrees>();
  root.setFormat(saved.format);
  root.setPartitions(saved.partitions);
  root.setSegments(saved.segments);
  auto trees = root.initTrees(static_cast<unsigned>(saved.trees.size()));
  for (size_t i = 0; i < saved.trees.size(); ++i) {
    const SavedTree& t = saved.trees[i];
    trees[i].setPartition(t.partition);
    auto leaves = trees[i].initLeaves(static_cast<unsigned>(t.leaves.size()));
    for (size_t j = 0; j < t.leaves.size(); ++j) leaves.set(j, t.leaves[j]);
  }
  const kj::Array<capnp::word> words = capnp::messageToFlatArray(builder);
  const auto bytes = words.asBytes();
  return std::string(reinterpret_cast<const char*>(bytes.begin()),
                     bytes.size());
}

Result<SavedTrees> DecodeSavedTrees(std::string_view bytes) {
  return internal::DecodeFlat<sc::SavedTrees>(bytes, "saved trees",
                                              ReadSavedTrees);
}

}  // namespace shoal::wire
