//! pgconn's connection-string parser judged by libpq itself: `PQconninfoParse` from
//! the system's libpq.so.5, loaded at run time, must read every case the same way (the
//! same keyword -> value pairs) or refuse it with the same message.

use libloading::Library;
use pgconn::conninfo::{self, ErrorKind};
use std::collections::BTreeMap;
use std::ffi::{c_char, c_int, c_void, CStr, CString};

/// libpq-fe.h's `PQconninfoOption`.
#[repr(C)]
struct PQconninfoOption {
    keyword: *mut c_char,
    envvar: *mut c_char,
    compiled: *mut c_char,
    val: *mut c_char,
    label: *mut c_char,
    dispchar: *mut c_char,
    dispsize: c_int,
}

type ConninfoParse = unsafe extern "C" fn(*const c_char, *mut *mut c_char) -> *mut PQconninfoOption;
type ConninfoFree = unsafe extern "C" fn(*mut PQconninfoOption);
type FreeMem = unsafe extern "C" fn(*mut c_void);

struct Libpq {
    parse: ConninfoParse,
    free: ConninfoFree,
    freemem: FreeMem,
    _library: Library,
}

/// How a string was read: keyword -> value bytes, or the error message.
#[derive(Debug, PartialEq, Eq)]
enum Reading {
    Options(BTreeMap<String, Vec<u8>>),
    Error(String),
}

impl Libpq {
    fn load() -> Result<Libpq, String> {
        // SAFETY: libpq's initialisers have no preconditions; the symbols' types are
        // libpq-fe.h's prototypes.
        unsafe {
            let library = Library::new("libpq.so.5").map_err(|e| e.to_string())?;
            let parse = *library
                .get::<ConninfoParse>(b"PQconninfoParse\0")
                .map_err(|e| e.to_string())?;
            let free = *library
                .get::<ConninfoFree>(b"PQconninfoFree\0")
                .map_err(|e| e.to_string())?;
            let freemem = *library
                .get::<FreeMem>(b"PQfreemem\0")
                .map_err(|e| e.to_string())?;
            Ok(Libpq {
                parse,
                free,
                freemem,
                _library: library,
            })
        }
    }

    fn read(&self, text: &str) -> Reading {
        let text = CString::new(text).expect("cases have no NUL");
        let mut error: *mut c_char = std::ptr::null_mut();
        // SAFETY: a valid C string and error pointer; the result array ends with a NULL
        // keyword and is freed once, as is the error message.
        unsafe {
            let options = (self.parse)(text.as_ptr(), &mut error);
            if options.is_null() {
                assert!(!error.is_null(), "libpq ran out of memory");
                let message = String::from_utf8_lossy(CStr::from_ptr(error).to_bytes())
                    .trim_end_matches('\n')
                    .to_string();
                (self.freemem)(error.cast());
                return Reading::Error(message);
            }
            let mut read = BTreeMap::new();
            let mut option = options;
            while !(*option).keyword.is_null() {
                if !(*option).val.is_null() {
                    let keyword = CStr::from_ptr((*option).keyword).to_string_lossy();
                    let value = CStr::from_ptr((*option).val).to_bytes().to_vec();
                    read.insert(keyword.into_owned(), value);
                }
                option = option.add(1);
            }
            (self.free)(options);
            Reading::Options(read)
        }
    }
}

fn ours(text: &str) -> Reading {
    match conninfo::parse(text) {
        Ok(info) => options_of(&info),
        Err(e) => Reading::Error(e.to_string()),
    }
}

fn options_of(info: &conninfo::Conninfo) -> Reading {
    Reading::Options(
        info.iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect(),
    )
}

/// libpq, or a loud skip off CI (a failure in CI).
fn libpq() -> Option<Libpq> {
    match Libpq::load() {
        Ok(libpq) => Some(libpq),
        Err(reason) => {
            let in_ci =
                std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "0" && v != "false");
            assert!(
                !in_ci,
                "libpq.so.5 is required in CI and cannot be loaded: {reason}"
            );
            eprintln!("\n*** SKIPPED: libpq.so.5 cannot be loaded: {reason}. Run ./scripts/test.sh to get it. ***\n");
            None
        }
    }
}

/// Strings read by both parsers directly. Each kind of case is here: key=value strings,
/// URIs, their errors; nothing is expected by hand, libpq is the judge.
const CASES: &[&str] = &[
    // key=value: white space, quotes, escapes, empty values
    "",
    "   ",
    "host=db",
    "host=db port=5432 dbname=app user=app password=secret",
    "  host = db   port=\t5432\n dbname =app\r\n",
    "host=db\x0bport=1\x0cdbname=x",
    "host=",
    "host= port=5",
    "host=''",
    "host='' port=''",
    "host='a b' dbname='it''s'",
    "password='it\\'s' user=u",
    "password=a\\ b",
    "password=a\\\\b",
    "password=trailing\\",
    "password='trailing\\",
    "password='unterminated",
    "password='",
    "host='a'port=5",
    "host='a'  port=5",
    "host=a'b'",
    "host=a=b",
    "dbname=x dbname=y",
    "password=Xk9#tail host=h",
    "options='-c search_path=public'",
    "application_name=caf\u{e9}",
    "host=\u{e9}\\\u{e9}",
    "requiressl=1",
    "requiressl=0",
    "requiressl=",
    "requiressl=1 sslmode=disable",
    "sslmode=disable requiressl=1",
    "ssl=true",
    "service=cornice",
    "replication=database",
    "target_session_attrs=read-write gssencmode=disable",
    // key=value errors
    "host",
    "db",
    "host db",
    "host = ",
    "host=a port",
    "host=a port 5",
    "=x",
    " = ",
    "bogus=1",
    "host=a tty=1",
    "sslcertmode=allow",
    "require_auth=password",
    "Host=a",
    "caf\u{e9}=1",
    "POSTGRESQL://host",
    "postgresql:/host",
    "postgresql+://host",
    "postgresql+as-yncpg://host",
    "postgres ://host",
    // URIs: the basics
    "postgresql://",
    "postgres://",
    "postgresql://host",
    "postgres://host:5432/db",
    "postgresql://user@host",
    "postgresql://user:pw@host:5432/db",
    "postgresql://:pw@host",
    "postgresql://user:@host",
    "postgresql://@host",
    "postgresql://:@",
    "postgresql://@",
    "postgresql:///db",
    "postgresql:///",
    "postgresql://host/",
    "postgresql://host:/db",
    "postgresql://host:port/db",
    "postgresql://host:5432:6543/db",
    "postgresql:///db?host=/var/run/postgresql",
    "postgresql://%2Fvar%2Frun%2Fpostgresql/db",
    // user-info: the first '@' before any '/', '#', '?' and ':' inside the password
    "postgresql://app:Xk9#tail@host/db",
    "postgresql://app:Xk9?tail@host/db",
    "postgresql://app:p@ss@host/db",
    "postgresql://app:p:a:ss@host/db",
    "postgresql://app:pa%40ss@host/db",
    "postgresql://app:pa%2Fss@host/db",
    "postgresql://app:pa/ss@host/db",
    "postgresql://a#b@host",
    "postgresql://host?user=a@b",
    "postgresql://host/db@x",
    "postgresql://u@h/db?options=a@b",
    "postgresql://host#frag",
    "postgresql://host/db#frag",
    "postgresql://host/db?sslmode=require#frag",
    "postgresql://us%65r:p%61ss@h%6Fst/d%62",
    "postgresql://u%3Au:p@h",
    // percent-encoding errors
    "postgresql://%zz",
    "postgresql://a%00b",
    "postgres://host?dbname=%XXfoo",
    "postgresql://host/db%",
    "postgresql://host/db%4",
    "postgresql://host/db%4g",
    "postgresql://host/%%41",
    "postgresql://us%zzer@host",
    "postgresql://user:p%zzw@host",
    "postgresql://user:p%00w@host",
    "postgresql://host:54%3/db",
    "postgresql://host?%zz=1",
    "postgresql://host?application_name=%zz",
    "postgresql://host?application_name=%00",
    "postgresql://host?application%5Fname=x",
    "postgresql://h/%41%62%2F%20",
    "postgresql://h/a+b",
    // IPv6
    "postgresql://[::1]",
    "postgresql://[::1]:5432/db",
    "postgresql://[::1]/db",
    "postgresql://[::1]?sslmode=disable",
    "postgresql://u:p@[fe80::1%25eth0]:5432/db",
    "postgres://[]",
    "postgres://[]:5432",
    "postgres://[::1]z",
    "postgres://u:secret@[::1]z/db?password=x",
    "postgres://[::1]\u{e9}",
    "postgres://[::1",
    "postgres://[::1/db",
    "postgres://[::1]]",
    "postgresql://[::1],[::2]:5433",
    "postgresql://[::1]x,[::2]",
    "postgresql://h,[]",
    "postgresql://h,[::1",
    // multiple hosts
    "postgresql://a,b",
    "postgresql://a:1,b:2/db",
    "postgresql://a:1,b/db",
    "postgresql://a,b:2/db",
    "postgresql://,",
    "postgresql://,/db",
    "postgresql://a,",
    "postgresql://a:,b:",
    "postgresql://u:p@a,b,c/db",
    "postgresql://a,b%zz",
    // query parameters
    "postgresql://host?",
    "postgresql://host?&",
    "postgresql://host?zzz",
    "postgresql://host?key=key=value",
    "postgresql://host?sslmode=require&",
    "postgresql://host?sslmode=require&&",
    "postgresql://host?sslmode=require&x",
    "postgresql://host?=x",
    "postgresql://host?bogus=1",
    "postgresql://host?sslmode=require&bogus=1",
    "postgresql://host?ssl=true",
    "postgresql://host?ssl=false",
    "postgresql://host?ssl=require",
    "postgresql://host?requiressl=1",
    "postgresql://host?requiressl=0",
    "postgresql://host?sslmode=",
    "postgresql://host?dbname=other",
    "postgresql://host/db?dbname=other",
    "postgresql://host/db?host=other&port=7",
    "postgresql://u@host?user=v&password=w",
    "postgresql://host?password=a%26b",
    "postgresql://host?password=a&b",
    "postgresql://host?options=-c%20statement_timeout%3D5s",
    "postgresql://host?application_name=a+b",
    "postgresql://host?tty=1",
    "postgresql://host?load_balance_hosts=random",
    "postgresql://host/db?sslmode=require?x=1",
    "postgresql://host/db/more",
    "postgresql://host?dbname=a?b",
    "postgresql://host:5432?connect_timeout=10",
    "postgresql://host/?",
    "postgresql://?dbname=x",
    "postgresql://?",
    "postgresql://h?ssl%3Dtrue",
];

#[test]
fn libpq_reads_every_case_as_we_do() {
    let Some(libpq) = libpq() else { return };
    let mut mismatches = Vec::new();
    for case in CASES {
        let (theirs, ours) = (libpq.read(case), ours(case));
        if theirs != ours {
            mismatches.push(format!("{case:?}\n  libpq: {theirs:?}\n  ours:  {ours:?}"));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    assert!(CASES.len() >= 150, "keep the case list broad");
    // Every refusal libpq has is among the cases.
    let refusals: Vec<ErrorKind> = CASES
        .iter()
        .filter_map(|case| conninfo::parse(case).err())
        .map(|e| e.kind())
        .collect();
    let libpq_refusals = [
        ErrorKind::MissingEquals,
        ErrorKind::UnterminatedQuote,
        ErrorKind::InvalidOption,
        ErrorKind::UnterminatedIpv6,
        ErrorKind::EmptyIpv6,
        ErrorKind::UnexpectedCharacter,
        ErrorKind::InvalidPercentToken,
        ErrorKind::ForbiddenPercentNul,
        ErrorKind::QueryMissingEquals,
        ErrorKind::QueryExtraEquals,
        ErrorKind::InvalidQueryParameter,
    ];
    for kind in libpq_refusals {
        assert!(refusals.contains(&kind), "no case is refused as {kind:?}");
    }
}

/// The driver schemes tried, each with the bare scheme it stands for.
const DRIVER_SCHEMES: &[(&str, &str)] = &[
    ("postgresql://", "postgresql+asyncpg://"),
    ("postgresql://", "postgresql+psycopg://"),
    ("postgres://", "postgres+psycopg2://"),
];

/// `driver` + the rest of `case` (which starts with `bare`) against libpq's reading of
/// `case`: `None` where libpq refuses an unknown query parameter (the driver owns those,
/// compared in their own test), else whether both read it alike.
fn compare_driver_url(
    libpq: &Libpq,
    case: &str,
    bare: &str,
    driver: &str,
) -> Option<Result<(), String>> {
    let url = format!("{driver}{}", case.strip_prefix(bare)?);
    let expected = match libpq.read(case) {
        // The message quotes the string as given; positions count in it.
        Reading::Error(message) => Reading::Error(shift_positions(
            &message.replace(case, &url),
            driver.len() - bare.len(),
        )),
        options => options,
    };
    if matches!(&expected, Reading::Error(m) if m.starts_with("invalid URI query parameter")) {
        return None;
    }
    let ours = match conninfo::parse(&url) {
        Ok(info) => {
            let name = driver.split_once('+').unwrap().1.trim_end_matches("://");
            if info.driver.as_deref() != Some(name) || !info.ignored.is_empty() {
                return Some(Err(format!(
                    "{url:?}: driver {:?}, ignored {:?}",
                    info.driver, info.ignored
                )));
            }
            options_of(&info)
        }
        Err(e) => Reading::Error(e.to_string()),
    };
    Some(if expected == ours {
        Ok(())
    } else {
        Err(format!("{url:?}\n  libpq: {expected:?}\n  ours:  {ours:?}"))
    })
}

/// `postgresql+DRIVER://rest` must read as libpq reads `postgresql://rest`, errors
/// included.
#[test]
fn a_driver_url_reads_as_the_bare_scheme() {
    let Some(libpq) = libpq() else { return };
    let mut mismatches = Vec::new();
    let mut compared = 0;
    for case in CASES {
        for (bare, driver) in DRIVER_SCHEMES {
            match compare_driver_url(&libpq, case, bare, driver) {
                None => {}
                Some(Ok(())) => compared += 1,
                Some(Err(mismatch)) => mismatches.push(mismatch),
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    assert!(compared >= 100, "only {compared} driver URLs compared");
}

/// libpq's "at position N" counts from the start of the string: N moves by the longer
/// scheme.
fn shift_positions(message: &str, by: usize) -> String {
    let Some((before, after)) = message.split_once(" at position ") else {
        return message.to_string();
    };
    let (number, rest) = after
        .split_once(' ')
        .expect("a position is followed by text");
    let position: usize = number.parse().expect("a position is a number");
    format!("{before} at position {} {rest}", position + by)
}

/// Driver URLs with parameters only the driver knows: libpq reads the same URL without
/// them (and with asyncpg's `ssl=` spelt `sslmode=`) as we read the driver URL.
#[test]
fn driver_parameters_are_ignored_and_asyncpg_ssl_is_sslmode() {
    let Some(libpq) = libpq() else { return };
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "postgresql+asyncpg://app:Xk9#tail@db:5432/cornice?prepared_statement_cache_size=0",
            "postgresql://app:Xk9#tail@db:5432/cornice",
            &["prepared_statement_cache_size"],
        ),
        (
            "postgresql+asyncpg://db/cornice?ssl=require",
            "postgresql://db/cornice?sslmode=require",
            &[],
        ),
        (
            "postgresql+asyncpg://db/cornice?ssl=disable&sslmode=verify-full",
            "postgresql://db/cornice?sslmode=verify-full",
            &[],
        ),
        (
            "postgresql+asyncpg://db/cornice?ssl=false",
            "postgresql://db/cornice?sslmode=disable",
            &[],
        ),
        (
            "postgresql+asyncpg://db/cornice?ssl=true",
            "postgresql://db/cornice?sslmode=require",
            &[],
        ),
        (
            "postgresql+psycopg://db/cornice?client_encoding=utf8&connect_timeout=3&pool%5Fsize=5&echo=",
            "postgresql://db/cornice?client_encoding=utf8&connect_timeout=3",
            &["pool_size", "echo"],
        ),
        (
            "postgresql+asyncpg://db?command_timeout=60&host=other",
            "postgresql://db?host=other",
            &["command_timeout"],
        ),
        (
            "postgres+pg8000://u:p@[::1]:5433/x?tty=1",
            "postgres://u:p@[::1]:5433/x",
            &["tty"],
        ),
    ];
    for (url, bare, ignored) in cases {
        let info = conninfo::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(libpq.read(bare), options_of(&info), "{url}");
        assert_eq!(&info.ignored, ignored, "{url}");
        // libpq itself refuses what the driver owns.
        if !ignored.is_empty() {
            assert!(
                matches!(
                    libpq.read(&format!("postgresql://{}", url.split_once("://").unwrap().1)),
                    Reading::Error(m) if m.starts_with("invalid URI query parameter")
                ),
                "{url}"
            );
        }
    }
    // A driver URL keeps every other error: these are refused as libpq refuses them.
    for url in [
        "postgresql+asyncpg://host?zzz",
        "postgresql+asyncpg://host?key=key=value",
        "postgresql+asyncpg://host?x=%zz",
    ] {
        assert!(conninfo::parse(url).is_err(), "{url}");
    }
}

/// Random strings of the grammar's special characters and words: whatever libpq does
/// with them, we do, and with a driver scheme in front of a URI too. Decoded bytes that
/// are not UTF-8 are our one refusal of what libpq accepts, and must be exactly that.
#[test]
fn random_strings_read_as_libpq_reads_them() {
    let Some(libpq) = libpq() else { return };
    const PIECES: &[&str] = &[
        "a",
        "1",
        ":",
        "/",
        "@",
        "?",
        "#",
        "[",
        "]",
        ",",
        "%",
        "0",
        "f",
        "F",
        "=",
        "&",
        "'",
        " ",
        "\\",
        "z",
        "\t",
        "\u{e9}",
        "%41",
        "%e9",
        "%C3%A9",
        "[::1]",
        "host",
        "dbname=",
        "password=",
        "ssl=true",
        "requiressl",
        "user",
        "port=5432",
    ];
    const PREFIXES: &[&str] = &["postgresql://", "postgres://", "host=", "", "password='"];
    const CASES: usize = 20_000;
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |below: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % below as u64) as usize
    };
    let (mut accepted, mut not_utf8, mut drivers) = (0, 0, 0);
    let mut mismatches = Vec::new();
    for _ in 0..CASES {
        let mut case = PREFIXES[next(PREFIXES.len())].to_string();
        for _ in 0..next(10) {
            case.push_str(PIECES[next(PIECES.len())]);
        }
        let theirs = libpq.read(&case);
        accepted += usize::from(matches!(theirs, Reading::Options(_)));
        match conninfo::parse(&case) {
            Err(e) if e.kind() == ErrorKind::NotUtf8 => {
                match &theirs {
                    Reading::Options(values)
                        if values.values().any(|v| std::str::from_utf8(v).is_err()) => {}
                    _ => mismatches.push(format!("{case:?}: libpq {theirs:?}, ours {e}")),
                }
                not_utf8 += 1;
                continue;
            }
            _ => {
                let ours = ours(&case);
                if theirs != ours {
                    mismatches.push(format!("{case:?}\n  libpq: {theirs:?}\n  ours:  {ours:?}"));
                }
            }
        }
        let (bare, driver) = DRIVER_SCHEMES[next(DRIVER_SCHEMES.len())];
        match compare_driver_url(&libpq, &case, bare, driver) {
            Some(Ok(())) => drivers += 1,
            Some(Err(mismatch)) => mismatches.push(mismatch),
            None => {}
        }
    }
    mismatches.truncate(20);
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    // Every side of the grammar gets its share.
    eprintln!("{CASES} random strings: {accepted} accepted by libpq, {not_utf8} not UTF-8, {drivers} driver URLs");
    assert!(
        accepted > CASES / 10 && CASES - accepted > CASES / 10,
        "{accepted} accepted"
    );
    assert!(not_utf8 > 0, "the not-UTF-8 refusal was never exercised");
    assert!(drivers > CASES / 10, "only {drivers} driver URLs compared");
}
