# magnet-node image for the local testnet (docker-compose.yml). Builds the TypeScript daemon, the native addon
# (native/, node-gyp), the contracts (solc-js) and the Python trainer venv (PyTorch from PyPI) inside the image;
# nothing is downloaded at run time.
FROM node:20-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-venv python3-pip build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
COPY . .
RUN npm ci --no-audit --no-fund && npm run build:native && node dist/contracts/scripts/build.js && bash python/install.sh
# The daemon runs as the image's unprivileged `node` user: it owns only its data volume, so nothing it receives can
# rewrite /app (the trainer's Python code included). The admin API stays on the container's loopback
# (docker exec ... magnet-node status); only the public API (7680) and the peer ports (gRPC 7600, libp2p 7601) are
# exposed.
RUN mkdir -p /data && chown node:node /data
ENV MAGNET_HOME=/data MAGNET_MDNS=false NODE_ENV=production
VOLUME ["/data"]
EXPOSE 7600 7601 7680
USER node
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s CMD node -e "fetch('http://127.0.0.1:7680/readyz').then(r=>process.exit(r.ok?0:1)).catch(()=>process.exit(1))"
ENTRYPOINT ["node", "/app/dist/daemon/src/cli/main.js"]
CMD ["start", "--api", "0.0.0.0:7680", "--admin", "127.0.0.1:7681"]
