# escape=`
FROM busybox
ENV WINPATH=C:\app\bin
COPY C:\src\$WINPATH\x.txt `$literal /dst/
