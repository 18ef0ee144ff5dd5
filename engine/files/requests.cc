// Request ordering and batching.
#include "engine/files/requests.h"

#include <algorithm>

namespace hasync::engine {

std::vector<Action*> RequestOrder(std::vector<Action>& actions) {
  std::vector<Action*> files;
  for (Action& a : actions) {
    if (a.kind == ActionKind::kFile) files.push_back(&a);
  }
  std::stable_sort(files.begin(), files.end(),
                   [](Action* a, Action* b) { return a->remote->size > b->remote->size; });
  return files;
}

std::optional<std::vector<std::byte>> RequestBatcher::Add(const FileRequest& r) {
  Encode(r, batch_);
  ++count_;
  if (batch_.size() >= max_bytes_) return Flush();
  return std::nullopt;
}

std::optional<std::vector<std::byte>> RequestBatcher::Flush() {
  if (count_ == 0) return std::nullopt;
  Encoder msg;
  msg.PutVarint(count_);
  msg.PutRaw(batch_.view().data(), batch_.size());
  batch_.Clear();
  count_ = 0;
  return std::move(msg.buffer());
}

}  // namespace hasync::engine
