FROM scratch AS base
COPY ./Dockerfile /x
ADD secrets/key.pem /k

FROM scratch
COPY --from=base /x /y
