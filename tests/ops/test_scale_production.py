"""Scale on PostgreSQL, as production runs it: gunicorn with two web processes receiving the emulator's status
webhooks and serving the guests' pages, and three `pregonero worker` processes sharing a 20,000-message send,
while guests answer: hundreds on their personal page, a hundred and more by tapping the quick reply in
WhatsApp. At the end no guest got two invitations, no answer was lost, and nobody saw an error.
"""

import random
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.db import connection

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sending"))
from live_stack import LiveStack, die_with_parent, free_port, ready_with_guests, wait_for  # noqa: E402

from pregonero.campaigns.models import Campaign, State  # noqa: E402
from pregonero.devtools.emulator import EmulatorConfig, EmulatorServer  # noqa: E402
from pregonero.rsvp.models import AnswerRecord, Invitation  # noqa: E402
from pregonero.sending.models import Message, WebhookEvent  # noqa: E402
from pregonero.sending.services import send_start  # noqa: E402

pytestmark = [
    pytest.mark.django_db(transaction=True),  # committed, so the processes see the send
    pytest.mark.skipif(connection.vendor != "postgresql",
                       reason="several web processes and workers at once is the PostgreSQL set-up (SKIP LOCKED "
                              "claims, concurrent writers); SQLite runs one worker"),
]

GUESTS, WORKERS, RATE = 20_000, 3, 1000
PAGE_ANSWERS, TAPS = 400, 150
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


class ProductionStack(LiveStack):
    """LiveStack with gunicorn (two processes, as the deploy's unit runs it) and several workers."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.workers: list[subprocess.Popen] = []

    def start_web(self) -> None:
        port = self.web_url.rsplit(":", 1)[1]
        log = open(self.directory / "web.log", "ab")
        try:
            self.web = subprocess.Popen(
                [GUNICORN, "pregonero.wsgi:application", "--workers", "2", "--threads", "4",
                 "--bind", f"127.0.0.1:{port}",
                 "--keep-alive", "20",  # longer than the emulator's client keeps an idle connection (15 s)
                 "--access-logfile", str(self.directory / "access.txt"),
                 "--access-logformat", "%(p)s %(s)s %(m)s %(U)s"],
                env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent)
        finally:
            log.close()
        wait_for(self._web_answers, timeout=30, what="gunicorn answers", details=self.logs)

    def start_workers(self, count: int) -> None:
        for _n in range(count):
            self.worker = None  # LiveStack keeps one; this stack keeps them all in self.workers
            self.start_worker()
            self.workers.append(self.worker)

    def stop(self) -> None:
        self.worker = None
        for process in self.workers:
            if process.poll() is None:
                process.terminate()
        for process in self.workers:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        super().stop()

    def access_log(self) -> list[tuple[str, int, str, str]]:
        """(gunicorn worker pid, HTTP status, method, path) of every request the web processes served."""
        lines = (self.directory / "access.txt").read_text().splitlines()
        return [(pid, int(status), method, path) for pid, status, method, path in (line.split() for line in lines)]


@pytest.fixture
def stack(transactional_db, smtp_server, tmp_path):
    web_port = free_port()
    emulator = EmulatorServer(EmulatorConfig(
        token="token-de-prueba", app_secret="secreto-de-la-app", verify_token="verificame",
        callback_url=f"http://127.0.0.1:{web_port}/webhooks/whatsapp/", rate=RATE, pair_limit=False,
        daily_limit=None, read_probability=0.3, batch_probability=1.0, batch_max=50, webhook_concurrency=8,
        webhook_queue_size=100_000, seed=random.randrange(10**6)))
    emulator.start()
    live = ProductionStack(tmp_path, emulator=emulator, smtp_port=smtp_server[0].port, web_port=web_port,
                           WHATSAPP_RATE_LIMIT=RATE, EMAIL_RATE_LIMIT=RATE)
    try:
        live.start_web()
        yield live
    finally:
        live.stop()
        emulator.stop()


class Guest:
    """A guest on their phone's browser: opens their personal page, then answers on it."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        no_redirects = type("NoRedirects", (urllib.request.HTTPRedirectHandler,),
                            {"redirect_request": lambda *args: None})
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()), no_redirects)

    def request(self, path: str, data: dict | None = None) -> tuple[int, str]:
        body = urlencode(data).encode() if data is not None else None
        try:
            with self.opener.open(f"{self.base_url}{path}", data=body, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace")

    def answer(self, token: str, answer: str) -> list[int]:
        status, page = self.request(f"/i/{token}")
        if status != 200:
            return [status]
        csrf = CSRF_FIELD.search(page).group(1)
        posted, _page = self.request(f"/i/{token}", {"csrfmiddlewaretoken": csrf, "answer": answer})
        return [status, posted]


def test_two_web_processes_and_three_workers_send_20000_while_guests_answer(people, make_campaign, stack):
    rng = random.Random(stack.emulator.config.seed)
    campaign = ready_with_guests(make_campaign(state=State.READY), author=people.social_media, whatsapp=GUESTS)
    assert send_start(campaign=campaign, actor=people.social_media) == GUESTS
    token_of = {str(public_id): token for public_id, token in Message.objects.filter(campaign=campaign)
                .values_list("public_id", "invitation__token")}
    chosen = rng.sample(sorted(token_of), PAGE_ANSWERS + TAPS)
    on_page = {public_id: rng.choice(["attending", "declined"]) for public_id in chosen[:PAGE_ANSWERS]}
    tapping = {public_id: rng.choice([0, 1]) for public_id in chosen[PAGE_ANSWERS:]}

    stack.start_workers(WORKERS)
    pool = ThreadPoolExecutor(max_workers=16)
    answers, taps, seen = [], {}, 0
    try:
        # As each invitation is accepted by WhatsApp its guest may answer, on the page or with the quick reply.
        deadline = time.monotonic() + 100
        while seen < GUESTS:
            assert time.monotonic() < deadline, f"not sent in time\n{stack.progress(campaign)}"
            assert all(w.poll() is None for w in stack.workers), f"a worker died\n{stack.progress(campaign)}"
            accepted = stack.emulator.messages()
            for message in accepted[seen:]:
                public_id = message.biz_opaque_callback_data
                if public_id in on_page:
                    answers.append(pool.submit(Guest(stack.web_url).answer, token_of[public_id], on_page[public_id]))
                elif public_id in tapping:
                    stack.emulator.user_taps_quick_reply(message.wamid, tapping[public_id])
                    taps[public_id] = message.wa_id
            seen = len(accepted)
            time.sleep(0.2)
        statuses = [future.result(timeout=60) for future in answers]
    finally:
        pool.shutdown(cancel_futures=True)

    stack.wait_until_sent(campaign, timeout=60)
    stack.wait_until_applied(campaign, timeout=60)
    failed = list(WebhookEvent.objects.exclude(error="").values_list("pk", "error")[:5])
    assert not failed, f"webhooks not applied: {failed}\n{stack.progress(campaign)}"

    # One invitation per guest, no more, no fewer.
    invitations = [m for m in stack.emulator.messages() if m.type == "template"]
    per_message = Counter(m.biz_opaque_callback_data for m in invitations)
    assert stack.emulator.duplicates() == {}
    assert set(per_message) == set(token_of) and set(per_message.values()) == {1}
    assert len(Counter(m.wa_id for m in invitations)) == GUESTS
    states = Counter(Message.objects.filter(campaign=campaign).values_list("state", flat=True))
    assert set(states) <= {"delivered", "read"} and sum(states.values()) == GUESTS, stack.progress(campaign)
    assert Campaign.objects.get(pk=campaign.pk).state == State.SENT

    # Every answer is on its invitation, once.
    assert len(statuses) == PAGE_ANSWERS and set(map(tuple, statuses)) == {(200, 302)}, Counter(map(tuple, statuses))
    assert len(taps) == TAPS
    wait_for(lambda: AnswerRecord.objects.filter(invitation__campaign=campaign).count() >= PAGE_ANSWERS + TAPS,
             timeout=30, what="every answer recorded", details=lambda: stack.progress(campaign))
    expected = {token_of[p]: (answer, "link") for p, answer in on_page.items()}
    expected |= {token_of[p]: (["attending", "declined"][index], "button") for p, index in tapping.items()}
    recorded = {token: (answer, via) for token, answer, via in Invitation.objects.filter(campaign=campaign)
                .exclude(answer=Invitation.Answer.PENDING).values_list("token", "answer", "answered_via")}
    assert recorded == expected
    assert AnswerRecord.objects.filter(invitation__campaign=campaign).count() == PAGE_ANSWERS + TAPS

    # Each tap opened the 24-hour window: one free-text confirmation, sent once.
    wait_for(lambda: sum(m.type == "text" for m in stack.emulator.messages()) >= TAPS, timeout=60,
             what="every tap confirmed", details=lambda: stack.progress(campaign))
    replies = Counter(m.wa_id for m in stack.emulator.messages() if m.type == "text")
    assert replies == Counter(taps.values())

    # Nobody saw an error: not the guests, not WhatsApp's webhooks, not the logs; both web processes served.
    served = stack.access_log()
    assert not [line for line in served if line[1] >= 500]
    posts = [(pid, status) for pid, status, method, path in served if (method, path) == ("POST", "/webhooks/whatsapp/")]
    assert {status for _pid, status in posts} == {200}
    assert stack.emulator.stats.get("webhooks_dropped", 0) == 0
    # Both processes took requests. Not necessarily webhooks: the emulator keeps its connections open, and since
    # the webhook's POSTs skip Django's middleware (pregonero.wsgi) one process's few connections carry them all.
    assert len({pid for pid, *_rest in served}) == 2
    assert "Traceback" not in stack.logs(tail=10**9)
