# The Saleor App (Transactions API) as its own image: the package in a slim Python, no Saleor.
#
# Build from the root of a saleor-multisafepay-refund checkout:
#   docker build -f docs/docker/app.Dockerfile -t msp-app .
# Run (one image, three commands; see docs/install.md):
#   docker run --rm --env-file msp-app.env msp-app python -m saleor_multisafepay_refund app migrate
#   docker run -d --env-file msp-app.env -p 8001:8000 msp-app        # gunicorn, the web part
#   docker run -d --env-file msp-app.env msp-app python -m saleor_multisafepay_refund app worker

# Stage 1: the package as a wheel.
FROM python:3.12-slim AS wheel
COPY . /src
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels /src

# Stage 2: the App. psycopg[binary] brings its own libpq: no system packages needed.
FROM python:3.12-slim
RUN groupadd --system msp && useradd --system --gid msp --create-home --home-dir /home/msp msp
COPY --from=wheel /wheels /tmp/wheels
# The wheel by its path (never a name looked up on an index), with the App's extra for PostgreSQL.
RUN pip install --no-cache-dir "$(ls /tmp/wheels/saleor_multisafepay_refund-*.whl)[app-postgres]" "gunicorn>=23" \
  && rm -rf /tmp/wheels \
  && python -c "import saleor_multisafepay_refund, django, jwt, cryptography, psycopg, gunicorn"
USER msp
WORKDIR /home/msp
ENV PYTHONUNBUFFERED=1
EXPOSE 8000
CMD ["gunicorn", "--workers", "4", "--threads", "4", "--bind", "0.0.0.0:8000", "saleor_multisafepay_refund.app.wsgi:application"]
