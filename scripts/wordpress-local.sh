#!/usr/bin/env bash
# A throwaway WordPress on 127.0.0.1 for the live publishing tests.
#
#   eval "$(scripts/wordpress-local.sh start)"   # exports WP_URL, WP_USER, WP_APP_PASSWORD
#   scripts/wordpress-local.sh stop              # stops the servers, keeps the site
#   scripts/wordpress-local.sh reset             # stops the servers and deletes the site
#
# It runs Debian's wordpress package (6.1 on bookworm) from its installed location on PHP's
# built-in web server, with MariaDB reachable through a unix socket only (--skip-networking).
# Nothing listens on any address but 127.0.0.1. The site is set up from the PHP command line,
# so the start makes no HTTP requests except the readiness probe. The site sends no mail, makes
# no outgoing HTTP requests and runs no WP-Cron.
#
# It installs nothing: scripts/install-wordpress-deps.sh installs the Debian packages.
#
# Settings (environment variables):
#   K2W_WP_DIR     where the database, uploads and logs live (default ${TMPDIR:-/tmp}/k2w-wordpress)
#   K2W_WP_PORT    TCP port on 127.0.0.1 (default 8089)
#   K2W_WP_ROOT    the WordPress code (default /usr/share/wordpress, from the wordpress package)
#   K2W_WP_WORKERS PHP web server worker processes, for concurrent requests (default 4)
#
# Only WordPress's front controller is served (REST API, posts, uploads). wp-admin and
# wp-login.php are not, because they load Debian's wp-config.php, which reads its settings
# from /etc/wordpress, and this script writes nothing outside K2W_WP_DIR.
set -euo pipefail

data_dir=${K2W_WP_DIR:-${TMPDIR:-/tmp}/k2w-wordpress}
port=${K2W_WP_PORT:-8089}
wordpress_root=${K2W_WP_ROOT:-/usr/share/wordpress}
workers=${K2W_WP_WORKERS:-4}
site_url="http://127.0.0.1:$port"
wp_user="admin"
app_password_name=k2w-tests
db_socket="$data_dir/run/mysqld.sock"
# Marks a data directory as made by this script, the only kind that reset deletes.
marker_file=.k2w-wordpress-local

# Seconds to wait for each server to accept requests, polled every 0.1 s.
startup_timeout=${K2W_WP_STARTUP_TIMEOUT:-20}

log() {
    echo "wordpress-local: $*" >&2
}

fail() {
    log "$*"
    exit 1
}

# Report every missing program with the Debian package that provides it.
check_requirements() {
    local missing=()
    command -v php >/dev/null || missing+=("php (package php8.2-cli)")
    command -v mariadbd >/dev/null || missing+=("mariadbd (package mariadb-server-core)")
    command -v mariadb-install-db >/dev/null \
        || missing+=("mariadb-install-db (package mariadb-server-core)")
    command -v mariadb >/dev/null || missing+=("mariadb (package mariadb-client)")
    command -v mariadb-admin >/dev/null || missing+=("mariadb-admin (package mariadb-client)")
    [ -f "$wordpress_root/wp-settings.php" ] || missing+=("$wordpress_root (package wordpress)")
    if command -v php >/dev/null && ! php -m 2>/dev/null | grep -qx mysqli; then
        missing+=("PHP's mysqli extension (package php8.2-mysql)")
    fi

    if [ "${#missing[@]}" -gt 0 ]; then
        log "missing:"
        printf '  %s\n' "${missing[@]}" >&2
        fail "install them with scripts/install-wordpress-deps.sh (as root)"
    fi
}

# Succeed when the PID in pid_file is alive and its command line contains the given word,
# so a PID reused by another program is never signalled.
pid_alive() {
    local pid_file=$1 word=$2 pid
    [ -f "$pid_file" ] || return 1
    pid=$(cat "$pid_file")
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$word"
}

# Poll until the probe command succeeds, failing early if the server's process has exited
# (for example because the port is taken) and after startup_timeout seconds.
wait_for_server() {
    local name=$1 pid_file=$2 word=$3 log_file=$4 probe=$5
    for _ in $(seq $((startup_timeout * 10))); do
        pid_alive "$pid_file" "$word" || fail "$name exited while starting; see $log_file"
        if "$probe"; then
            return 0
        fi
        sleep 0.1
    done
    fail "$name did not respond within ${startup_timeout}s; see $log_file"
}

database_answers() {
    mariadb-admin --socket="$db_socket" --user=root ping >/dev/null 2>&1
}

site_answers() {
    # shellcheck disable=SC2016 # PHP code: $ belongs to PHP, not the shell
    php -d display_errors=0 -r '
        $context = stream_context_create(["http" => ["timeout" => 2, "ignore_errors" => true]]);
        $body = @file_get_contents($argv[1], false, $context);
        exit($body !== false && str_contains($body, "\"namespaces\"") ? 0 : 1);
    ' "$site_url/wp-json/"
}

start_database() {
    local os_user
    os_user=$(id -un)
    mkdir -p "$data_dir/run" "$data_dir/log"
    touch "$data_dir/$marker_file"

    if [ ! -d "$data_dir/mysql/mysql" ]; then
        mariadb-install-db --no-defaults --datadir="$data_dir/mysql" --user="$os_user" \
            --auth-root-authentication-method=socket --auth-root-socket-user="$os_user" \
            --skip-test-db --skip-name-resolve >"$data_dir/log/mariadb-install-db.log" 2>&1 \
            || fail "mariadb-install-db failed; see $data_dir/log/mariadb-install-db.log"
    fi

    if database_answers; then
        return 0
    fi

    mariadbd --no-defaults --user="$os_user" --datadir="$data_dir/mysql" \
        --socket="$db_socket" --pid-file="$data_dir/run/mariadbd.pid" \
        --skip-networking --skip-name-resolve --log-error="$data_dir/log/mariadbd.log" \
        --innodb-buffer-pool-size=32M --innodb-flush-log-at-trx-commit=2 \
        </dev/null >/dev/null 2>&1 &
    echo $! >"$data_dir/run/mariadbd.started"
    wait_for_server MariaDB "$data_dir/run/mariadbd.started" "$data_dir/mysql" \
        "$data_dir/log/mariadbd.log" database_answers

    mariadb --socket="$db_socket" --user=root <<'SQL'
CREATE DATABASE IF NOT EXISTS wordpress CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci;
CREATE USER IF NOT EXISTS 'wordpress'@'localhost' IDENTIFIED BY 'local-only';
GRANT ALL PRIVILEGES ON wordpress.* TO 'wordpress'@'localhost';
SQL
}

write_site_files() {
    # WordPress makes uploads/YYYY/MM on the first upload of a month. Several first
    # uploads at once can race on that mkdir, and one may fail with a 500, so the folder
    # is made here. Next month's is made too, for a session that runs past the month's end.
    mkdir -p "$data_dir/wp-content/uploads/$(date -u +%Y/%m)" \
        "$data_dir/wp-content/uploads/$(date -u -d 'next month' +%Y/%m)" \
        "$data_dir/wp-content/plugins" "$data_dir/wp-content/mu-plugins"
    ln -sfn "$wordpress_root/wp-content/themes" "$data_dir/wp-content/themes"

    # Settings that Debian's wp-config.php would read from /etc/wordpress. Loading this file
    # and then wp-settings.php is what wp-config.php does.
    cat >"$data_dir/wp-config.php" <<PHP
<?php
define('ABSPATH', '$wordpress_root/');
define('DB_NAME', 'wordpress');
define('DB_USER', 'wordpress');
define('DB_PASSWORD', 'local-only');
define('DB_HOST', 'localhost:$db_socket');
define('DB_CHARSET', 'utf8mb4');
define('DB_COLLATE', '');
define('WP_HOME', '$site_url');
define('WP_SITEURL', '$site_url');
define('WP_CONTENT_DIR', '$data_dir/wp-content');
define('WP_CONTENT_URL', '$site_url/wp-content');
// Application passwords are refused over plain http unless the site is a local one.
define('WP_ENVIRONMENT_TYPE', 'local');
define('DISABLE_WP_CRON', true);
define('WP_HTTP_BLOCK_EXTERNAL', true);
define('AUTOMATIC_UPDATER_DISABLED', true);
define('WP_AUTO_UPDATE_CORE', false);
define('FS_METHOD', 'direct');
define('WP_DEBUG', false);
foreach (['AUTH', 'SECURE_AUTH', 'LOGGED_IN', 'NONCE'] as \$name) {
    define(\$name . '_KEY', 'local-test-site-' . \$name . '-key');
    define(\$name . '_SALT', 'local-test-site-' . \$name . '-salt');
}
\$table_prefix = 'wp_';
require_once ABSPATH . 'wp-settings.php';
PHP

    # php -S passes every request to this script. Uploaded files are served from the data
    # directory, WordPress's own static files from its root, and the rest goes to the
    # front controller, as a web server's rewrite rules would do.
    cat >"$data_dir/router.php" <<PHP
<?php
\$path = rawurldecode(parse_url(\$_SERVER['REQUEST_URI'], PHP_URL_PATH) ?? '/');
if (str_contains(\$path, '..')) {
    http_response_code(400);
    return true;
}
if (str_starts_with(\$path, '/wp-content/uploads/')) {
    \$file = '$data_dir' . \$path;
    if (is_file(\$file)) {
        header('Content-Type: ' . (mime_content_type(\$file) ?: 'application/octet-stream'));
        header('Content-Length: ' . filesize(\$file));
        readfile(\$file);
        return true;
    }
}
\$static = '$wordpress_root' . \$path;
if (\$path !== '/' && is_file(\$static) && !str_ends_with(\$path, '.php')) {
    return false;
}
\$_SERVER['SCRIPT_NAME'] = '/index.php';
\$_SERVER['PHP_SELF'] = '/index.php';
\$_SERVER['SCRIPT_FILENAME'] = '$wordpress_root/index.php';
define('WP_USE_THEMES', true);
require '$data_dir/wp-config.php';
wp();
require ABSPATH . WPINC . '/template-loader.php';
PHP

    # Keep the site from reaching out, and register the Yoast SEO meta keys (but not Rank
    # Math's) so that a test gets both keys that are stored and keys that are dropped.
    cat >"$data_dir/wp-content/mu-plugins/k2w-local-site.php" <<'PHP'
<?php
/*
 * Plugin Name: k2w local test site
 * Description: No mail, no outgoing HTTP; registers the Yoast SEO and k2w_language post meta.
 */
add_filter('pre_wp_mail', '__return_false');
add_filter('pre_http_request', function () {
    return new WP_Error('http_request_blocked', 'Outgoing HTTP is disabled on this test site.');
});
add_action('init', function () {
    $keys = ['_yoast_wpseo_title', '_yoast_wpseo_metadesc', '_yoast_wpseo_focuskw', 'k2w_language'];
    foreach ($keys as $key) {
        register_post_meta('post', $key, [
            'type' => 'string',
            'single' => true,
            'show_in_rest' => true,
            'auth_callback' => function () {
                return current_user_can('edit_posts');
            },
        ]);
    }
});
PHP

    # Runs once per start from the PHP command line: installs the site if needed, removes
    # the sample content, turns on /%postname%/ permalinks (so /wp-json/ works) and makes
    # sure an application password exists. Prints nothing on success.
    cat >"$data_dir/setup.php" <<'PHP'
<?php
[, $config, $host, $user, $password_file, $password_name] = $argv;
$_SERVER['HTTP_HOST'] = $host;
$_SERVER['REQUEST_URI'] = '/';
define('WP_INSTALLING', true);
require $config;
require_once ABSPATH . 'wp-admin/includes/upgrade.php';

if (!is_blog_installed()) {
    // The installer probes the site over HTTP to pick a permalink structure; the
    // pre_http_request filter in the must-use plugin makes that probe fail at once.
    $login_password = wp_generate_password(32);
    wp_install('k2w local test site', $user, 'admin@example.invalid', false, '', $login_password);
    $samples = get_posts(['post_type' => 'any', 'post_status' => 'any', 'numberposts' => -1]);
    foreach ($samples as $post) {
        wp_delete_post($post->ID, true);
    }
}
if (get_option('permalink_structure') !== '/%postname%/') {
    global $wp_rewrite;
    $wp_rewrite->set_permalink_structure('/%postname%/');
    flush_rewrite_rules(false);
}

$user_id = get_user_by('login', $user)->ID;
$password = is_file($password_file) ? trim(file_get_contents($password_file)) : '';
$known = false;
foreach (WP_Application_Passwords::get_user_application_passwords($user_id) as $item) {
    if ($item['name'] !== $password_name) {
        continue;
    }
    if ($password !== '' && wp_check_password($password, $item['password'])) {
        $known = true;
    } else {
        WP_Application_Passwords::delete_application_password($user_id, $item['uuid']);
    }
}
if (!$known) {
    $created = WP_Application_Passwords::create_new_application_password(
        $user_id,
        ['name' => $password_name]
    );
    if (is_wp_error($created)) {
        fwrite(STDERR, $created->get_error_message() . "\n");
        exit(1);
    }
    umask(077);
    file_put_contents($password_file, $created[0]);
}
PHP
}

set_up_site() {
    php -d display_errors=stderr -d error_reporting='E_ALL & ~E_DEPRECATED' "$data_dir/setup.php" \
        "$data_dir/wp-config.php" "127.0.0.1:$port" "$wp_user" "$data_dir/app-password" \
        "$app_password_name" >"$data_dir/log/setup.log" 2>&1 \
        || { cat "$data_dir/log/setup.log" >&2; fail "WordPress setup failed"; }
}

port_in_use() {
    # shellcheck disable=SC2016 # PHP code: $ belongs to PHP, not the shell
    php -r 'exit(@fsockopen("127.0.0.1", (int) $argv[1], $code, $message, 1) ? 0 : 1);' "$port"
}

web_server_running() {
    pid_alive "$data_dir/run/php.pid" "-S 127.0.0.1:$port"
}

# Another server on the port would respond to the readiness probe in place of this one.
check_port_free() {
    if ! web_server_running && port_in_use; then
        fail "port $port on 127.0.0.1 is in use by another program; set K2W_WP_PORT to a free port"
    fi
}

start_web_server() {
    if web_server_running && site_answers; then
        return 0
    fi

    # display_errors stays off: WordPress 6.1 on PHP 8.2 prints deprecation warnings that
    # would otherwise end up in front of the JSON of REST responses.
    # With PHP_CLI_SERVER_WORKERS the server forks workers into its process group, which
    # setsid makes its own, so stop() can signal the whole group.
    PHP_CLI_SERVER_WORKERS=$workers setsid php -d display_errors=0 -d log_errors=1 \
        -d error_log="$data_dir/log/php-errors.log" \
        -d upload_max_filesize=32M -d post_max_size=32M \
        -S "127.0.0.1:$port" -t "$wordpress_root" "$data_dir/router.php" \
        </dev/null >"$data_dir/log/php-server.log" 2>&1 &
    echo $! >"$data_dir/run/php.pid"
    wait_for_server "PHP's web server on $site_url" "$data_dir/run/php.pid" \
        "-S 127.0.0.1:$port" "$data_dir/log/php-server.log" site_answers
}

start() {
    check_requirements
    check_port_free
    start_database
    write_site_files
    set_up_site
    start_web_server
    printf 'export WP_URL=%q WP_USER=%q WP_APP_PASSWORD=%q\n' \
        "$site_url" "$wp_user" "$(cat "$data_dir/app-password")"
}

# Send SIGTERM to a recorded process, or to the process group it leads when the third
# argument is "group", then wait up to 10 s for it to exit.
stop_process() {
    local pid_file=$1 word=$2 target=$3 pid
    if ! pid_alive "$pid_file" "$word"; then
        rm -f "$pid_file"
        return 0
    fi
    pid=$(cat "$pid_file")
    if [ "$target" = group ]; then
        kill -TERM -- "-$pid" 2>/dev/null || true
    else
        kill -TERM "$pid" 2>/dev/null || true
    fi
    for _ in $(seq 100); do
        pid_alive "$pid_file" "$word" || break
        sleep 0.1
    done
    rm -f "$pid_file"
}

stop() {
    stop_process "$data_dir/run/php.pid" "-S 127.0.0.1:$port" group
    stop_process "$data_dir/run/mariadbd.started" "$data_dir/mysql" process
}

reset() {
    if [ -e "$data_dir" ] && [ ! -f "$data_dir/$marker_file" ]; then
        fail "not deleting $data_dir: this script did not create it (no $marker_file inside)"
    fi
    stop
    rm -rf "$data_dir"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    reset) reset ;;
    *)
        echo "usage: $0 start|stop|reset" >&2
        exit 2
        ;;
esac
