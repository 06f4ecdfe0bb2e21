# One image for both server roles: `meshctl control-plane` and the sidecar (`meshctl proxy run` / `proxy init`).
FROM node:24-slim AS build
WORKDIR /src
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
RUN npm ci --no-audit --no-fund
COPY src ./src
COPY templates ./templates
RUN npm run build && npm prune --omit=dev

FROM node:24-slim
# iptables for `meshctl proxy init` (the capture init container); nothing else is added.
RUN apt-get update && apt-get install -y --no-install-recommends iptables iproute2 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/meshctl
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY templates ./templates
# The proxy runs as 1337 (excluded from capture); the init container overrides this to root with NET_ADMIN.
RUN groupadd -g 1337 meshproxy && useradd -u 1337 -g 1337 -M -s /usr/sbin/nologin meshproxy
USER 1337:1337
ENV NODE_ENV=production
ENTRYPOINT ["node", "/opt/meshctl/bin/meshctl"]
CMD ["proxy", "run"]
