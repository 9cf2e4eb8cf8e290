"""Settings for bench/rsvp_load.py's web server: Pregonero's own settings, with a URLconf that adds the bare
view the invitation page is measured against (bench/rsvp_site_urls.py). Nothing here changes the product."""

from pregonero.settings import *  # noqa: F403

ROOT_URLCONF = "rsvp_site_urls"
