"""Dapr subscriptions served by the app's own web framework, shaped like the official SDK's
``dapr-ext-fastapi`` and ``flask_dapr``: ``DaprApp(app)``, then ``@dapr_app.subscribe(pubsub=,
topic=, ...)``. Install the framework with the extra: ``pip install "dapr-rs[fastapi]"`` or
``"dapr-rs[flask]"``, then import ``dapr_rs.ext.fastapi`` or ``dapr_rs.ext.flask``.

The framework serves ``GET /dapr/subscribe`` and one ``POST`` route per subscription on the app
itself (run it with ``--app-protocol http``); dapr-rs's Rust core reads each call and writes each
reply, exactly as its own HTTP app server does: the CloudEvent and the message metadata (headers),
a bulk envelope's entries, ``APP_API_TOKEN`` (read when the ``DaprApp`` is made), and 400 for a body
that is no CloudEvent. WSGI servers (Flask's werkzeug, gunicorn) drop headers whose names have a
``_``, so metadata such as Kafka's ``__key`` reaches FastAPI handlers only.

Unlike the official extensions, a handler is not a route of its own: it gets the event as a
:class:`dapr_rs.TopicEvent` and answers as an ``App`` handler does (None or ``'success'``,
``'retry'``, ``'drop'``, a :class:`dapr_rs.TopicEventResponse`); an exception is logged (logger
``dapr_rs``) and answered RETRY. Handlers may be ``async def``. No ``/healthz`` route is added: the
app is yours, so give it a ``GET`` route at ``--app-health-check-path`` if you turn app health
checks on.
"""
