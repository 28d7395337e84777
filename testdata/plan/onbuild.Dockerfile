FROM busybox AS tools
RUN echo tool > /tool

FROM busybox AS base
ONBUILD COPY --from=tools /tool /tool
ONBUILD RUN cat /tool

FROM base
RUN echo done
