// LmdbJournal (lmdb_journal.h): opening the environment and its databases,
// the exclusive engine lock, and the journal id. The other jobs of the class
// live in the lmdb_journal_*.cc files the header lists.
#include "lmdb_journal.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>

#include "handoff/engine/log.h"

namespace handoff {
namespace {

// 128 random bits as 32 lowercase hex digits.
std::string NewJournalId() {
  std::random_device rd;
  std::string id;
  static const char* kHex = "0123456789abcdef";
  for (int i = 0; i < 4; ++i) {
    uint32_t w = rd();
    for (int b = 0; b < 8; ++b) id.push_back(kHex[(w >> (b * 4)) & 0xf]);
  }
  return id;
}

}  // namespace

LmdbJournal::~LmdbJournal() {
  if (env_) mdb_env_close(env_);
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

Status LmdbJournal::Init() {
  std::error_code ec;
  const bool exists = std::filesystem::exists(options_.path + "/data.mdb", ec);
  if (!exists && !options_.create_if_missing) return Status::NotFound("no journal at " + options_.path);
  std::filesystem::create_directories(options_.path, ec);
  if (ec) return Status::InvalidArgument("cannot create journal directory " + options_.path + ": " + ec.message());
  if (options_.exclusive) HANDOFF_RETURN_IF_ERROR(TakeLock());
  HANDOFF_RETURN_IF_ERROR(EnsureRoom(exists));
  int rc = mdb_env_create(&env_);
  if (rc) return LmdbError(rc, "mdb_env_create", options_.path);
  mdb_env_set_maxdbs(env_, 16);
  mdb_env_set_maxreaders(env_, 256);
  // An existing environment may be larger than the configured initial size.
  uint64_t size = std::max<uint64_t>(options_.map_size, ExistingDataSize());
  rc = mdb_env_set_mapsize(env_, size);
  if (rc) return LmdbError(rc, "mdb_env_set_mapsize", options_.path);
  rc = mdb_env_open(env_, options_.path.c_str(), MDB_NOTLS, 0644);
  if (rc) return LmdbError(rc, "cannot open journal at " + options_.path, options_.path);
  LmdbTxn txn;
  rc = txn.Begin(env_, false);
  if (rc) return LmdbError(rc, "mdb_txn_begin", options_.path);
  const char* names[] = {"events", "sources", "meta", "targets", "exceptions", "dedup", "dedup_age", "streams", "shapes"};
  MDB_dbi* dbis[] = {&events_, &sources_, &meta_, &targets_, &exceptions_, &dedup_, &dedup_age_, &streams_, &shapes_};
  for (int i = 0; i < 9; ++i) {
    rc = mdb_dbi_open(txn.get(), names[i], MDB_CREATE, dbis[i]);
    if (rc) return LmdbError(rc, std::string("open database ") + names[i], options_.path);
  }
  if ((rc = InitIdentity(txn.get()))) return LmdbError(rc, "journal identity", options_.path);
  if ((rc = LoadShapes(txn.get()))) return LmdbError(rc, "journal event shapes", options_.path);
  rc = txn.Commit();
  if (rc) return LmdbError(rc, "commit journal open", options_.path);
  return Status::OK();
}

// A process killed inside a read transaction leaves its reader slot, and
// the slot's snapshot would keep every page freed since (see lmdb_journal_map.cc).
// Returns how many slots were cleared.
int LmdbJournal::ClearStaleReaders() {
  int dead = 0;
  if (mdb_reader_check(env_, &dead) != MDB_SUCCESS) return 0;
  if (dead > 0)
    LogWarn("journal", "cleared {} reader slots left by processes that ended while reading the journal", dead);
  return dead;
}

// The exclusive lock: flock on <path>/handoff.lock, which also holds the
// holder's pid for the message a second holder gets. flock (not fcntl)
// so that other Journal objects of this process conflict too.
Status LmdbJournal::TakeLock() {
  std::string file = options_.path + "/handoff.lock";
  lock_fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) return Status::InvalidArgument("cannot open " + file + ": " + std::strerror(errno));
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    char buf[32] = {0};
    ssize_t n = ::pread(lock_fd_, buf, sizeof(buf) - 1, 0);
    std::string pid = n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    ::close(lock_fd_);
    lock_fd_ = -1;
    if (err != EWOULDBLOCK) return Status::InvalidArgument("cannot lock " + file + ": " + std::strerror(err));
    return Status::Conflict("the journal at " + options_.path + " is in use by another engine" +
                            (pid.empty() ? std::string() : " (pid " + pid + ")") +
                            "; one engine runs per journal");
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(lock_fd_, 0) != 0 || ::pwrite(lock_fd_, pid.data(), pid.size(), 0) < 0) {
    LogWarn("journal", "cannot write the pid into {}: {}", file, std::strerror(errno));
  }
  return Status::OK();
}

// Reads the journal id, or draws one: a journal with no events, sources
// or targets is new; one that has any predates identities (legacy).
int LmdbJournal::InitIdentity(MDB_txn* txn) {
  MDB_val k = Val("journal_id"), v;
  int rc = mdb_get(txn, meta_, &k, &v);
  if (rc == MDB_SUCCESS) {
    id_ = std::string(View(v));
    MDB_val lk = Val("journal_id_legacy"), lv;
    legacy_id_ = mdb_get(txn, meta_, &lk, &lv) == MDB_SUCCESS;
    return MDB_SUCCESS;
  }
  if (rc != MDB_NOTFOUND) return rc;
  bool used = false;
  for (MDB_dbi dbi : {events_, sources_, targets_}) {
    MDB_stat st;
    if ((rc = mdb_stat(txn, dbi, &st))) return rc;
    used = used || st.ms_entries > 0;
  }
  MDB_val lk = Val("last_seq"), lv;
  used = used || mdb_get(txn, meta_, &lk, &lv) == MDB_SUCCESS;
  id_ = NewJournalId();
  MDB_val nv = Val(id_);
  if ((rc = mdb_put(txn, meta_, &k, &nv, 0))) return rc;
  if (used) {
    legacy_id_ = true;
    MDB_val mk = Val("journal_id_legacy"), one = Val("1");
    if ((rc = mdb_put(txn, meta_, &mk, &one, 0))) return rc;
    LogInfo("journal", "journal at {} predates journal ids; it is now {}", options_.path, id_);
  }
  return MDB_SUCCESS;
}

uint64_t LmdbJournal::ExistingDataSize() {
  struct stat st;
  std::string file = options_.path + "/data.mdb";
  if (::stat(file.c_str(), &st) == 0) return static_cast<uint64_t>(st.st_size);
  return 0;
}

Result<std::unique_ptr<Journal>> Journal::Open(const JournalOptions& options) {
  if (options.path.empty()) return Status::InvalidArgument("journal.path is empty");
  auto j = std::make_unique<LmdbJournal>(options);
  Status st = j->Init();
  if (!st.ok()) return st;
  j->ClearStaleReaders();
  return std::unique_ptr<Journal>(std::move(j));
}

}  // namespace handoff
