//! The open-file limit of `palisade serve`: every client connection, upstream connection and
//! database file is a file descriptor, and the usual soft limit (1024) caps a gateway at about a
//! thousand clients. At start, before the gateway listens, the soft `RLIMIT_NOFILE` is raised to
//! the hard limit the administrator allows (never above it; the hard limit is left alone).
//! Guarantee: after [`raise_to_hard`] the soft limit equals the hard limit, or the reason it
//! could not is returned and the limit is as it was.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// The soft open-file limit before and after [`raise_to_hard`]; `None` is unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Raised {
    pub before: Option<u64>,
    pub after: Option<u64>,
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit.
pub fn raise_to_hard() -> std::io::Result<Raised> {
    let limit = getrlimit(Resource::Nofile);
    let before = limit.current;
    if before == limit.maximum {
        return Ok(Raised {
            before,
            after: before,
        });
    }
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        },
    )?;
    Ok(Raised {
        before,
        after: getrlimit(Resource::Nofile).current,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lowered_soft_limit_is_raised_back_to_the_hard_limit() {
        let hard = getrlimit(Resource::Nofile).maximum;
        // Lower the soft limit first so the raise has work to do (a test process needs few files).
        let low = hard.map_or(256, |h| h.min(256));
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(low),
                maximum: hard,
            },
        )
        .unwrap();
        let raised = raise_to_hard().unwrap();
        assert_eq!(raised.before, Some(low));
        assert_eq!(raised.after, hard);
        assert_eq!(getrlimit(Resource::Nofile).current, hard);
        // Already at the hard limit: nothing changes.
        let again = raise_to_hard().unwrap();
        assert_eq!(again.before, hard);
        assert_eq!(again.after, hard);
    }
}
