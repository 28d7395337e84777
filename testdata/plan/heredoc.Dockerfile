FROM busybox
ARG NAME=world
COPY <<EOF /greeting.txt
hello $NAME "quoted"
EOF
COPY <<'RAW' /raw.txt
hello $NAME
RAW
COPY <<-TABS /tabs.txt
	indented $NAME
	TABS
RUN <<EOT
echo "$NAME" > /out
EOT
