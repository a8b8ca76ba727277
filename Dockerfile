# One image for the broker and the operator; the entrypoint picks which.
#   docker build -t floe .
#   docker run -p 9092:9092 floe                      # broker (default)
#   docker run floe node dist/src/operator/main.js    # operator (when built)
ARG NODE_VERSION=22

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY broker ./broker
COPY src ./src
COPY tools ./tools
RUN npx tsc -p tsconfig.json --outDir dist && npm prune --omit=dev

FROM node:${NODE_VERSION}-bookworm-slim
LABEL org.opencontainers.image.title="floe" \
      org.opencontainers.image.description="Stateless Kafka-compatible broker on object storage, and its Kubernetes operator" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV NODE_ENV=production \
    FLOE_DATA_DIR=/var/lib/floe
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
# Non-root; the only writable path is the data volume, so a read-only root filesystem works.
RUN mkdir -p /var/lib/floe && chown 10001:10001 /var/lib/floe
USER 10001:10001
VOLUME ["/var/lib/floe"]
EXPOSE 9092 9080
ENTRYPOINT ["node", "--enable-source-maps"]
CMD ["dist/broker/main.js"]
