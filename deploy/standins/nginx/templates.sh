#!/bin/sh
# The official nginx image's envsubst step, reduced: each /etc/nginx/templates/X.template becomes
# $NGINX_ENVSUBST_OUTPUT_DIR/X with only the variables set in the environment replaced (nginx's
# own $variables stay as they are). Then nginx in the foreground.
set -eu
out="${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d}"
defined="$(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/${\1}/p' | tr '\n' ' ')"
for template in /etc/nginx/templates/*.template; do
    [ -e "$template" ] || continue
    envsubst "$defined" < "$template" > "$out/$(basename "$template" .template)"
done
exec nginx -g 'daemon off;'
