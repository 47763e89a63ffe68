// DeliverySender: see the header for the invariants.
#include "delivery_sender.h"

#include <algorithm>

#include "handoff/engine/log.h"

namespace handoff::webhook {

using std::chrono::milliseconds;

DeliveryTicket::State DeliveryTicket::Wait(milliseconds timeout) {
  std::unique_lock<std::mutex> lk(mu_);
  cv_.wait_for(lk, timeout, [this] { return state_ != State::kWaiting; });
  return state_;
}

void DeliveryTicket::Settle(State s) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (state_ != State::kWaiting) return;
    state_ = s;
  }
  cv_.notify_all();
}

DeliverySender::DeliverySender(DeliverySenderOptions options)
    : opts_(std::move(options)),
      loop_(RetryLoopOptions::For("capture", "webhook source " + opts_.source, opts_.min_backoff, opts_.max_backoff,
                                  nullptr),
            &stop_) {}

std::shared_ptr<DeliveryTicket> DeliverySender::Submit(std::string delivery_id, std::vector<ChangeEvent> events,
                                                       bool* duplicate) {
  *duplicate = false;
  std::lock_guard<std::mutex> lk(mu_);
  if (stop_.stop_requested() || !session_up_) return nullptr;
  if (auto it = open_.find(delivery_id); it != open_.end()) {
    *duplicate = true;
    return it->second;
  }
  if (recent_.count(delivery_id)) {
    *duplicate = true;
    auto t = std::make_shared<DeliveryTicket>();
    t->state_ = DeliveryTicket::State::kDurable;
    return t;
  }
  if (!credit_ok_ && queued_events_ >= opts_.max_batch_events) return nullptr;
  auto t = std::make_shared<DeliveryTicket>();
  t->delivery_id = std::move(delivery_id);
  t->events = std::move(events);
  queued_events_ += t->events.size();
  open_[t->delivery_id] = t;
  queue_.push_back(t);
  cv_.notify_all();
  return t;
}

void DeliverySender::Run() {
  (void)loop_.Run([&] {  // every failure is transient: it ends only on stop
    SessionEnd end;
    end.status = RunSession(&end.progress);
    {
      std::lock_guard<std::mutex> lk(mu_);
      session_up_ = false;
    }
    FailAll(end.status.ToString());
    return end;
  });
  client_.reset();
}

void DeliverySender::Stop() {
  stop_.RequestStop();
  { std::lock_guard<std::mutex> lk(mu_); }  // a waiter on cv_ has checked the flag or is waiting
  cv_.notify_all();
}

Status DeliverySender::RunSession(bool* up) {
  if (!client_) {
    auto c = AgentClient::Connect(opts_.context, {opts_.endpoint, opts_.source, opts_.credit, milliseconds(1000)});
    if (!c.ok()) return c.status();
    client_ = std::move(c).value();
  } else {
    Status reset = client_->Reset();
    if (!reset.ok()) {
      client_.reset();
      return reset;
    }
  }
  auto hello = client_->Hello();
  if (!hello.ok()) return hello.status();
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stop_.stop_requested()) return Status::Cancelled("stop requested");
    lsn_ = std::max(lsn_, hello->lsn);  // never reuse a position, even after a failed session
    session_up_ = true;
    credit_ok_ = true;
  }
  *up = true;
  loop_.Succeeded();
  LogInfo("capture", "webhook source {}: engine session up, durable {}", opts_.source, FormatPosition(*hello));
  return Pump();
}

Status DeliverySender::Pump() {
  AppendBatch pending{opts_.source, {}, {}};
  while (true) {
    {
      std::unique_lock<std::mutex> lk(mu_);
      if (stop_.stop_requested()) return Status::Cancelled("stop requested");
      if (queue_.empty() && pending.events.empty() && client_->InFlight() == 0)
        cv_.wait_for(lk, milliseconds(20), [this] { return stop_.stop_requested() || !queue_.empty(); });
      // Whole deliveries only: a batch may pass max_batch_events by one delivery.
      while (!queue_.empty() && (pending.events.empty() ||
                                 pending.events.size() + queue_.front()->events.size() <= opts_.max_batch_events)) {
        std::shared_ptr<DeliveryTicket> t = std::move(queue_.front());
        queue_.pop_front();
        queued_events_ -= t->events.size();
        ++lsn_;
        uint64_t ordinal = 0;
        for (ChangeEvent& ev : t->events) {
          ev.position = {lsn_, ++ordinal};
          pending.events.push_back(std::move(ev));
        }
        t->events.clear();
        t->upto = {lsn_, ordinal};
        pending.upto = t->upto;
        positioned_.push_back(std::move(t));
      }
    }
    if (!pending.events.empty() && client_->HasCredit()) {
      HANDOFF_RETURN_IF_ERROR(client_->Send(std::move(pending)));
      pending = AppendBatch{opts_.source, {}, {}};
    }
    HANDOFF_RETURN_IF_ERROR(client_->Poll(client_->InFlight() > 0 ? milliseconds(1) : milliseconds(0)));
    SettleDurable(client_->Durable());
    {
      std::lock_guard<std::mutex> lk(mu_);
      credit_ok_ = client_->HasCredit();
    }
    if (client_->InFlight() > 0 && client_->OldestInFlightAge() > opts_.ack_timeout)
      return Status::Unavailable("engine has not acknowledged a batch for " +
                                 std::to_string(client_->OldestInFlightAge().count()) + " ms");
  }
}

void DeliverySender::SettleDurable(SourcePosition durable) {
  std::lock_guard<std::mutex> lk(mu_);
  while (!positioned_.empty() && positioned_.front()->upto <= durable) {
    std::shared_ptr<DeliveryTicket> t = std::move(positioned_.front());
    positioned_.pop_front();
    open_.erase(t->delivery_id);
    Remember(t->delivery_id);
    t->Settle(DeliveryTicket::State::kDurable);
  }
}

void DeliverySender::FailAll(const std::string& why) {
  std::lock_guard<std::mutex> lk(mu_);
  size_t n = positioned_.size() + queue_.size();
  if (n > 0) LogWarn("capture", "webhook source {}: {} deliveries answered 503: {}", opts_.source, n, why);
  for (auto* q : {&positioned_, &queue_})
    for (auto& t : *q) t->Settle(DeliveryTicket::State::kFailed);
  positioned_.clear();
  queue_.clear();
  queued_events_ = 0;
  open_.clear();
}

// REQUIRES: mu_ held.
void DeliverySender::Remember(const std::string& id) {
  if (opts_.remember_durable == 0 || !recent_.insert(id).second) return;
  recent_order_.push_back(id);
  if (recent_order_.size() > opts_.remember_durable) {
    recent_.erase(recent_order_.front());
    recent_order_.pop_front();
  }
}

}  // namespace handoff::webhook
