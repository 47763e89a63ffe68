// The journal's delivery-id dedup (database `dedup`): later appends of a
// journaled delivery id are duplicates, events of one delivery in one batch
// are all kept, retention forgets old ids, and the ids survive a reopen.
#include <gtest/gtest.h>

#include <filesystem>

#include "handoff/engine/journal.h"

namespace handoff {
namespace {

class JournalDedupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/handoff-dedup-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    Open();
  }
  void TearDown() override {
    journal_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Open() {
    journal_.reset();
    JournalOptions o;
    o.path = dir_;
    o.retention_us = 1000000;
    journal_ = std::move(Journal::Open(o)).value();
  }
  // A delivery of `n` events at lsn `lsn`.
  static AppendBatch Delivery(const std::string& source, const std::string& id, uint64_t lsn, int n) {
    AppendBatch b{source, {lsn, static_cast<uint64_t>(n)}, {}};
    for (int i = 1; i <= n; ++i) {
      ChangeEvent e;
      e.source = source;
      e.source_kind = SourceKind::kWebhook;
      e.delivery_id = id;
      e.position = {lsn, static_cast<uint64_t>(i)};
      e.table = "t";
      e.after = {{"id", 20, Column::Kind::kText, std::to_string(i)}};
      b.events.push_back(e);
    }
    return b;
  }
  AppendResult Append(std::vector<AppendBatch> batches) {
    AppendResult r;
    Status st = journal_->Append(batches, &r);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return r;
  }

  std::string dir_;
  std::unique_ptr<Journal> journal_;
};

TEST_F(JournalDedupTest, EventsOfOneDeliveryInOneBatchAreAllKept) {
  AppendResult r = Append({Delivery("wh", "d1", 1, 3)});
  EXPECT_EQ(r.appended, 3u);
  EXPECT_EQ(r.duplicates, 0u);
}

TEST_F(JournalDedupTest, LaterAppendOfSameDeliveryIsDuplicateButAdvancesPosition) {
  Append({Delivery("wh", "d1", 1, 2)});
  AppendResult r = Append({Delivery("wh", "d1", 2, 2)});
  EXPECT_EQ(r.appended, 0u);
  EXPECT_EQ(r.duplicates, 2u);
  auto durable = journal_->SourceDurable("wh");
  ASSERT_TRUE(durable.ok());
  EXPECT_EQ(durable->lsn, 2u);  // the sender's position still becomes durable
  EXPECT_EQ(journal_->LastSeq(), 2u);
}

TEST_F(JournalDedupTest, SameDeliveryInTwoBatchesOfOneAppendIsJournaledOnce) {
  AppendResult r = Append({Delivery("wh", "d1", 1, 2), Delivery("wh", "d1", 2, 2)});
  EXPECT_EQ(r.appended, 2u);
  EXPECT_EQ(r.duplicates, 2u);
}

TEST_F(JournalDedupTest, DeliveryIdsAreScopedBySource) {
  Append({Delivery("a", "d1", 1, 1)});
  AppendResult r = Append({Delivery("b", "d1", 1, 1)});
  EXPECT_EQ(r.appended, 1u);
}

TEST_F(JournalDedupTest, EventsWithoutDeliveryIdAreNotDeduplicated) {
  Append({Delivery("wh", "", 1, 1)});
  AppendResult r = Append({Delivery("wh", "", 2, 1)});
  EXPECT_EQ(r.appended, 1u);
}

TEST_F(JournalDedupTest, DeliveryIdsSurviveReopen) {
  Append({Delivery("wh", "d1", 1, 1)});
  Open();
  AppendResult r = Append({Delivery("wh", "d1", 2, 1)});
  EXPECT_EQ(r.duplicates, 1u);
  EXPECT_EQ(r.appended, 0u);
}

TEST_F(JournalDedupTest, RetentionForgetsOldDeliveryIds) {
  Append({Delivery("wh", "old", 1, 1)});
  const int64_t now = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  // Inside the window: kept.
  ASSERT_TRUE(journal_->ApplyRetention({}, now).ok());
  EXPECT_EQ(Append({Delivery("wh", "old", 2, 1)}).duplicates, 1u);
  // Past the window (retention 1 s): forgotten, so a redelivery is journaled again.
  ASSERT_TRUE(journal_->ApplyRetention({}, now + 5000000).ok());
  AppendResult r = Append({Delivery("wh", "old", 3, 1)});
  EXPECT_EQ(r.appended, 1u);
  EXPECT_EQ(r.duplicates, 0u);
}

}  // namespace
}  // namespace handoff
