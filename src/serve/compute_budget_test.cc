// ComputeBudget: threads held at once never exceed the budget, whatever mix of sizes is asked for, and
// a request for many threads is admitted in its turn rather than starved by a stream of small ones.
#include "serve/compute_budget.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace kiln::serve {
namespace {

TEST(ComputeBudgetTest, ThreadsHeldAtOnceNeverExceedTheBudget) {
  ComputeBudget budget(6);
  std::mutex mu;
  int held = 0;
  int most = 0;
  std::vector<std::thread> askers;
  for (int t = 0; t < 8; ++t) {
    askers.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const int k = 1 + (t + i) % 4;  // 1 to 4 threads
        ComputeBudget::Slot slot(&budget, k);
        std::lock_guard<std::mutex> lock(mu);
        held += k;
        most = std::max(most, held);
        held -= k;
      }
    });
  }
  for (std::thread& t : askers) t.join();
  EXPECT_LE(most, 6);
  EXPECT_LE(budget.peak(), 6);
}

TEST(ComputeBudgetTest, AskingForMoreThanTheBudgetHoldsAllOfIt) {
  ComputeBudget budget(2);
  {
    ComputeBudget::Slot all(&budget, 16);
    EXPECT_EQ(budget.peak(), 2);
  }
  ComputeBudget::Slot one(&budget, 1);  // released: admitted at once
  ComputeBudget::Slot other(&budget, 1);
  EXPECT_EQ(budget.peak(), 2);
}

TEST(ComputeBudgetTest, LargeRequestIsAdmittedInTurn) {
  // One thread of a 2-thread budget stays busy; a request for both queues, and one-thread requests
  // asked after it wait behind it instead of taking the free thread forever.
  ComputeBudget budget(2);
  std::mutex mu;
  std::vector<int> order;
  auto busy = std::make_unique<ComputeBudget::Slot>(&budget, 1);
  std::thread big([&] {
    ComputeBudget::Slot slot(&budget, 2);
    std::lock_guard<std::mutex> lock(mu);
    order.push_back(2);
  });
  // Wait until the big request holds its ticket (it cannot be admitted while `busy` lives).
  while (budget.waiting() < 1) std::this_thread::yield();
  std::thread small([&] {
    ComputeBudget::Slot slot(&budget, 1);
    std::lock_guard<std::mutex> lock(mu);
    order.push_back(1);
  });
  while (budget.waiting() < 2) std::this_thread::yield();
  busy.reset();
  big.join();
  small.join();
  EXPECT_EQ(order, (std::vector<int>{2, 1}));
}

TEST(ComputeBudgetTest, TryToLockTakesOnlyFreeThreadsAndNeverJumpsTheQueue) {
  ComputeBudget budget(2);
  {
    ComputeBudget::Slot one(&budget, 1, std::try_to_lock);
    EXPECT_TRUE(one.owns_threads());
    ComputeBudget::Slot two(&budget, 2, std::try_to_lock);
    EXPECT_FALSE(two.owns_threads());  // one of the two is held
    ComputeBudget::Slot other(&budget, 1, std::try_to_lock);
    EXPECT_TRUE(other.owns_threads());
  }
  EXPECT_EQ(budget.peak(), 2);
  // A waiting request comes first, even for threads that are free.
  auto busy = std::make_unique<ComputeBudget::Slot>(&budget, 1);
  std::thread big([&] { ComputeBudget::Slot slot(&budget, 2); });
  while (budget.waiting() < 1) std::this_thread::yield();
  {
    ComputeBudget::Slot late(&budget, 1, std::try_to_lock);
    EXPECT_FALSE(late.owns_threads());
  }
  busy.reset();
  big.join();
  ComputeBudget::Slot unbudgeted(nullptr, 4, std::try_to_lock);
  EXPECT_TRUE(unbudgeted.owns_threads());
}

}  // namespace
}  // namespace kiln::serve
