"""Production gunicorn settings for authsvc: ``gunicorn -c config/gunicorn.conf.py 'authsvc:create_app()'``.

Override any of these on the command line (``-b``, ``-w``) or through
``GUNICORN_CMD_ARGS``.  Workers are processes, not threads, because the
expensive part of a token request (bcrypt on a cache miss, ECDSA signing)
is CPU-bound.
"""

import multiprocessing

bind = "127.0.0.1:5001"
workers = multiprocessing.cpu_count() * 2 + 1
worker_class = "sync"
timeout = 30
graceful_timeout = 20
keepalive = 5
# Bounded request line and headers: a token request is small; anything big is hostile.
limit_request_line = 8190
limit_request_fields = 50
limit_request_field_size = 8190
# Access log without the Authorization header or request bodies (they are not in the format).
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
errorlog = "-"
# gunicorn >= 25 opens a control socket in $HOME by default; one service per host needs none.
control_socket_disable = True
