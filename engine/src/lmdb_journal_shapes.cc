// LmdbJournal (lmdb_journal.h): event shapes. A compact record (version 3,
// event_format.md) names the shape of its table (source, schema, table, key,
// column names and types) by id instead of repeating it; each shape is
// written once to the `shapes` database, in the write transaction of the
// first record that needs it.
#include "lmdb_journal.h"

namespace handoff {
namespace {

// More shapes than this (a webhook sending ever new column sets, say) are not
// created: such events are written with their names, as version 2 does.
constexpr size_t kMaxShapes = 65536;

std::string ShapeIdKey(uint32_t id) {
  std::string k(4, '\0');
  for (int i = 0; i < 4; ++i) k[i] = static_cast<char>((id >> (8 * (3 - i))) & 0xff);
  return k;
}

uint32_t ShapeIdOf(std::string_view k) {
  uint32_t id = 0;
  for (char c : k.substr(0, 4)) id = (id << 8) | static_cast<uint8_t>(c);
  return id;
}

}  // namespace

int LmdbJournal::LoadShapes(MDB_txn* txn) {
  LmdbCursor cur;
  int rc = cur.Open(txn, shapes_);
  if (rc) return rc;
  std::unique_lock<std::shared_mutex> lock(shapes_mu_);
  MDB_val k, v;
  for (rc = mdb_cursor_get(cur.get(), &k, &v, MDB_FIRST); rc == MDB_SUCCESS;
       rc = mdb_cursor_get(cur.get(), &k, &v, MDB_NEXT)) {
    auto shape = std::make_unique<EventShape>();
    if (k.mv_size != 4 || !EventShape::Decode(View(v), shape.get())) return MDB_CORRUPTED;
    const uint32_t id = ShapeIdOf(View(k));
    shape_ids_[std::string(View(v))] = id;
    shapes_by_id_[id] = std::move(shape);
    next_shape_ = std::max(next_shape_, id + 1);
  }
  return rc == MDB_NOTFOUND ? MDB_SUCCESS : rc;
}

int LmdbJournal::EncodeForJournal(MDB_txn* txn, const ChangeEvent& e, int64_t now, std::string* out) {
  thread_local std::string key;
  if (!ShapeKeyOf(e, &key)) {
    EncodeCompactEvent(e, now, 0, nullptr, out);
    return MDB_SUCCESS;
  }
  uint32_t id = 0;
  const EventShape* shape = nullptr;
  size_t count = 0;
  {
    std::shared_lock<std::shared_mutex> lock(shapes_mu_);
    auto it = shape_ids_.find(key);
    if (it != shape_ids_.end()) {
      id = it->second;
      shape = shapes_by_id_.at(id).get();
    }
    count = shapes_by_id_.size();
  }
  if (shape == nullptr && count < kMaxShapes) {
    auto fresh = std::make_unique<EventShape>();
    if (!EventShape::Decode(key, fresh.get())) return MDB_CORRUPTED;
    std::unique_lock<std::shared_mutex> lock(shapes_mu_);
    id = next_shape_++;
    std::string k = ShapeIdKey(id);
    MDB_val mk = Val(k), mv = Val(key);
    if (int rc = mdb_put(txn, shapes_, &mk, &mv, 0)) {
      --next_shape_;
      return rc;
    }
    shape = fresh.get();
    shape_ids_[key] = id;
    shapes_by_id_[id] = std::move(fresh);
    shapes_pending_.push_back(id);
  }
  if (shape == nullptr || !EncodeCompactEvent(e, now, id, shape, out)) EncodeCompactEvent(e, now, 0, nullptr, out);
  return MDB_SUCCESS;
}

const EventShape* LmdbJournal::FindShape(MDB_txn* txn, uint32_t id) {
  {
    std::shared_lock<std::shared_mutex> lock(shapes_mu_);
    auto it = shapes_by_id_.find(id);
    if (it != shapes_by_id_.end()) return it->second.get();
  }
  // Written by another process (the engine) since this one opened the journal.
  std::string k = ShapeIdKey(id);
  MDB_val mk = Val(k), v;
  if (mdb_get(txn, shapes_, &mk, &v) != MDB_SUCCESS) return nullptr;
  auto shape = std::make_unique<EventShape>();
  if (!EventShape::Decode(View(v), shape.get())) return nullptr;
  std::unique_lock<std::shared_mutex> lock(shapes_mu_);
  auto [it, added] = shapes_by_id_.emplace(id, std::move(shape));
  if (added) shape_ids_.emplace(std::string(View(v)), id);
  next_shape_ = std::max(next_shape_, id + 1);
  return it->second.get();
}

void LmdbJournal::SettleShapes(bool committed) {
  if (shapes_pending_.empty()) return;
  if (!committed) {
    std::unique_lock<std::shared_mutex> lock(shapes_mu_);
    for (uint32_t id : shapes_pending_) {
      auto it = shapes_by_id_.find(id);
      if (it == shapes_by_id_.end()) continue;
      shape_ids_.erase(it->second->Encode());
      shapes_by_id_.erase(it);
    }
    next_shape_ = std::min(next_shape_, shapes_pending_.front());
  }
  shapes_pending_.clear();
}

}  // namespace handoff
