package io.daprrs;

import io.daprrs.core.Event;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/** Events delivered to handlers, taken in arrival order; each take has a deadline and says what it waited for. */
final class Inbox {
    private final LinkedBlockingQueue<Event> events = new LinkedBlockingQueue<>();

    void add(Event event) {
        events.add(event);
    }

    Event take(String what) throws InterruptedException {
        return take(what, Duration.ofSeconds(20));
    }

    Event take(String what, Duration timeout) throws InterruptedException {
        Event e = events.poll(timeout.toMillis(), TimeUnit.MILLISECONDS);
        if (e == null) {
            throw new AssertionError("nothing reached " + what + " within " + timeout);
        }
        return e;
    }

    List<Event> take(String what, int count) throws InterruptedException {
        List<Event> got = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            got.add(take(what + " (" + got.size() + " of " + count + " so far)"));
        }
        return got;
    }

    /** What arrived within `ms`, beyond what was taken. */
    List<Event> within(long ms) throws InterruptedException {
        Thread.sleep(ms);
        List<Event> left = new ArrayList<>();
        events.drainTo(left);
        return left;
    }
}
