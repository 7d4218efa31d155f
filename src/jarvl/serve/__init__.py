"""``jarvl serve``: a small HTTP server (Starlette + uvicorn) with a page and a JSON API.

The command-line side of jarvl: the library (models, data, evaluation, train) never imports it.
``limits`` holds the safety limits, ``engine`` the one model thread that batches queued requests,
``attention`` turns a fusion's attention diagnostics into maps over the image, ``app`` the routes.
"""
