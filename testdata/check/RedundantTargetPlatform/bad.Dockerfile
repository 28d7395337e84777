FROM --platform=${TARGETPLATFORM} busybox
