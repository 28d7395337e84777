ARG base=busybox
ARG DEBUG
FROM ${base}${DEBUG}
FROM --platform=$BUILDPLATFORM scratch
