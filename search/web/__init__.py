"""The web face of search: FastAPI routers for the UI pages, the feeds and
calendar, the dependencies they share, and the page rendering.

The routers read what they need from ``app.state`` through typed dependencies
(:mod:`search.web.deps`); the app that includes them is assembled in
:mod:`tilts.app`.
"""
