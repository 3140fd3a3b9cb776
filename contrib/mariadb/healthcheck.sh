#!/bin/sh
# The official image's `healthcheck.sh --connect --innodb_initialized`, in
# short: the server takes connections and InnoDB has started.
set -eu
export MYSQL_PWD="${MARIADB_ROOT_PASSWORD:-}"
mariadb -uroot -N -B -e "SELECT 1 FROM information_schema.ENGINES WHERE ENGINE = 'InnoDB' AND SUPPORT IN ('YES', 'DEFAULT')" | grep -q 1
