FROM busybox
COPY --from=3 /x /x
