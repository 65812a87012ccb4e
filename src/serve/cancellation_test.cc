// Cancellation: the flag and its one listener, told when the flag is raised, never after a reset.
#include "serve/cancellation.h"

#include <gtest/gtest.h>

namespace kiln::serve {
namespace {

struct CountingListener : Cancellation::Listener {
  int told = 0;
  void on_cancel() override { ++told; }
};

TEST(CancellationTest, CancelRaisesTheFlagAndTellsTheListenerOnce) {
  Cancellation c;
  auto listener = std::make_shared<CountingListener>();
  c.listen(listener);
  EXPECT_FALSE(c.cancelled());
  EXPECT_FALSE(c.flag()->load());
  c.cancel();
  c.cancel();
  EXPECT_TRUE(c.cancelled());
  EXPECT_TRUE(c.flag()->load());
  EXPECT_EQ(listener->told, 1);
}

TEST(CancellationTest, ListenerSetAfterTheFlagWasRaisedIsNotTold) {
  Cancellation c;
  c.cancel();
  auto listener = std::make_shared<CountingListener>();
  c.listen(listener);
  EXPECT_EQ(listener->told, 0);  // the caller reads cancelled() after listen() instead
  EXPECT_TRUE(c.cancelled());
}

TEST(CancellationTest, ResetLowersTheFlagAndForgetsTheListener) {
  Cancellation c;
  auto before = std::make_shared<CountingListener>();
  c.listen(before);
  c.reset();
  EXPECT_FALSE(c.cancelled());
  c.cancel();
  EXPECT_EQ(before->told, 0);
  c.reset();
  EXPECT_FALSE(c.cancelled());
  auto after = std::make_shared<CountingListener>();
  c.listen(after);
  c.cancel();
  EXPECT_EQ(after->told, 1);
}

TEST(CancellationTest, ListenerMayReplaceItselfWhileTold) {
  // A listener answering the request may let its frontend reuse the object at once.
  struct Resetting : Cancellation::Listener {
    Cancellation* c = nullptr;
    void on_cancel() override { c->reset(); }
  };
  Cancellation c;
  auto listener = std::make_shared<Resetting>();
  listener->c = &c;
  c.listen(listener);
  c.cancel();  // must not deadlock on its own lock
  EXPECT_FALSE(c.cancelled());
}

}  // namespace
}  // namespace kiln::serve
