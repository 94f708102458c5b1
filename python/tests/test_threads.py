"""The GIL is released around kernels and backward: another Python thread keeps running
while a long tandem call is in progress (compared with its progress during time.sleep,
which releases the GIL too, so machine load affects both alike)."""
import threading
import time

import tandem


def _progress_during(action):
    counter = [0]
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            counter[0] += 1

    t = threading.Thread(target=spin)
    t.start()
    try:
        time.sleep(0.05)
        c0 = counter[0]
        t0 = time.perf_counter()
        action()
        dt = time.perf_counter() - t0
        c1 = counter[0]
        time.sleep(dt)
        c2 = counter[0]
    finally:
        stop.set()
        t.join()
    return (c1 - c0) / max(1, c2 - c1), dt


def _repeat_until(fn, seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        fn()


def test_kernels_release_the_gil():
    prev = tandem.get_num_threads()
    tandem.set_num_threads(1)
    try:
        a = tandem.randn(700, 700)
        # One call of ~0.2 s or more: the spinning thread runs during it only if the GIL is free.
        n = 1
        while True:
            t0 = time.perf_counter()
            x = tandem.stack([a] * n)
            tandem.matmul(x, x)
            if time.perf_counter() - t0 > 0.2:
                break
            n *= 2
        ratio, _ = _progress_during(lambda: tandem.matmul(x, x))
        assert ratio > 0.25, f"a Python thread ran {ratio:.2f}x as much during matmul as during sleep"
    finally:
        tandem.set_num_threads(prev)


def test_backward_releases_the_gil():
    prev = tandem.get_num_threads()
    tandem.set_num_threads(1)
    try:
        w = tandem.randn(600, 600, requires_grad=True)
        n = 1
        while True:
            x = tandem.randn(n, 600, 600)
            y = (x @ w).tanh().sum()
            t0 = time.perf_counter()
            y.backward()
            if time.perf_counter() - t0 > 0.2:
                break
            n *= 2
        y = (x @ w).tanh().sum()
        ratio, _ = _progress_during(y.backward)
        assert ratio > 0.25, f"a Python thread ran {ratio:.2f}x as much during backward as during sleep"
    finally:
        tandem.set_num_threads(prev)


def test_threads_compute_independently():
    results = {}

    def work(i):
        with tandem.no_grad():  # grad mode is per thread
            x = tandem.full((50, 50), float(i))
            results[i] = ((x @ x).sum().item(), tandem.is_grad_enabled())

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert tandem.is_grad_enabled()
    assert results == {i: (float(i * i * 50 * 2500), False) for i in range(4)}
