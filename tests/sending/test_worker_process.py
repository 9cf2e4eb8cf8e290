"""The real `pregonero worker` process: it starts, runs the dispatcher beside the tasks, and stops on SIGTERM."""

import os
import signal
import subprocess
import sys
import time


def test_worker_stops_cleanly_on_sigterm(tmp_path):
    env = {**os.environ, "PREGONERO_DATA_DIR": str(tmp_path), "DATABASE_URL": ""}
    pregonero = [sys.executable, "-m", "pregonero"]
    subprocess.run([*pregonero, "migrate", "-v0"], env=env, check=True, timeout=120)
    worker = subprocess.Popen([*pregonero, "worker", "--no-startup-delay"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(3)
        assert worker.poll() is None, worker.stdout.read()
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        worker.stdout.close()
