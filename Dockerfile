# One image for the API and the workers: Node 20 for the control plane, Python 3.11 for the engine.
# On GPU hosts pass --build-arg TORCH_SPEC="torch==2.13.0 --index-url <your CUDA wheel index>" (no CUDA wheel is fetched by default).
FROM node:20-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-venv python3-dev build-essential \
    && rm -rf /var/lib/apt/lists/*
ARG TORCH_SPEC=torch==2.13.0
ENV MOFSIM_TORCH_SPEC=${TORCH_SPEC}
WORKDIR /app
# What `npm ci` needs, and nothing more, so the dependency layer survives source edits: the manifests, the SDK
# workspace (its build runs in the postinstall) and the engine package (the postinstall builds .venv with it).
COPY package.json package-lock.json ./
COPY sdk/package.json sdk/tsconfig.json sdk/
COPY sdk/src sdk/src
COPY sdk/bin sdk/bin
COPY scripts/setup-python.mjs scripts/
COPY workers/engine/requirements.txt workers/engine/constraints.txt workers/engine/pyproject.toml workers/engine/
COPY workers/engine/mofsim_engine workers/engine/mofsim_engine
RUN npm ci --no-audit --no-fund
COPY . .
ENV PORT=8000 MOFSIM_DATA_DIR=/data
EXPOSE 8000 9464
# node --import tsx rather than the tsx binary: signals (SIGTERM drains a worker) reach the process itself.
CMD ["node", "--import", "tsx", "server/main.ts"]
