FROM busybox AS a
RUN echo a

FROM busybox AS b
RUN echo b

FROM a AS c
COPY --from=b /x /x

FROM scratch AS final
COPY --from=c /x /x
