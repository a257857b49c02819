//! Who may see what on the status page, from the launch's LIS roles.
//!
//! LMSs write a role in several forms: the LTI 1.3 context role
//! (`…/lis/v2/membership#Instructor`), a sub-role under its principal
//! (`…/membership/Instructor#TeachingAssistant`), the institution role
//! (`…/lis/v2/institution/person#Administrator`), the LTI 1.1 URN
//! (`urn:lti:role:ims/lis/Instructor/TeachingAssistant`) and the bare short
//! name. Each is read as its principal role; a sub-role counts as its
//! principal (a TeachingAssistant under Instructor is staff, an Instructor
//! under Learner is a learner).

/// What the viewer may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Every grade of the activity, and the resend action.
    Instructor,
    /// Their own grade only.
    Learner,
    /// Nothing (403).
    Neither,
}

/// Principal roles that see every grade: the course's teaching and
/// administrative staff.
const STAFF: [&str; 4] = [
    "Instructor",
    "TeachingAssistant",
    "ContentDeveloper",
    "Administrator",
];

/// Principal roles of someone who is graded (`Student` is the institution
/// form).
const GRADED: [&str; 2] = ["Learner", "Student"];

impl Audience {
    /// The audience of a user with `roles`. The roles in this course decide:
    /// an LMS sends institution roles for what a person is anywhere, so a
    /// learner here who teaches elsewhere must not see classmates' grades.
    /// Institution roles count only when the launch carries no course role,
    /// except an institution Administrator, who may see every course anyway.
    /// Among course roles staff wins over learner (a TA also enrolled).
    pub fn of(roles: &[String]) -> Self {
        let read: Vec<(Scope, &str)> = roles.iter().filter_map(|r| principal(r)).collect();
        let in_course = read.iter().any(|(scope, _)| *scope == Scope::Course);
        let counts = |(scope, name): &&(Scope, &str)| {
            *scope == Scope::Course || !in_course || *name == "Administrator"
        };
        let principals: Vec<&str> = read.iter().filter(counts).map(|(_, n)| *n).collect();
        if principals.iter().any(|p| STAFF.contains(p)) {
            Audience::Instructor
        } else if principals.iter().any(|p| GRADED.contains(p)) {
            Audience::Learner
        } else {
            Audience::Neither
        }
    }
}

/// Where a role holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// In the launch's course (context roles, LTI 1.1 course roles, short names).
    Course,
    /// In the institution (whatever the person is anywhere).
    Institution,
}

/// The principal role a role string names, and where it holds; `None`
/// for a form this is not (a system role, a custom vocabulary).
fn principal(role: &str) -> Option<(Scope, &str)> {
    const V2: &str = "http://purl.imsglobal.org/vocab/lis/v2/";
    let role = role.trim();
    if let Some(rest) = role.strip_prefix(V2) {
        // membership#X, membership/X#Sub, institution/person#X
        let (scope, rest) = match rest.strip_prefix("membership") {
            Some(rest) => (Scope::Course, rest),
            None => (Scope::Institution, rest.strip_prefix("institution/person")?),
        };
        let name = match rest.split_once('#')? {
            ("", name) => name,
            (under, _sub) => under.strip_prefix('/')?,
        };
        return Some((scope, name));
    }
    for (urn, scope) in [
        ("urn:lti:role:ims/lis/", Scope::Course),
        ("urn:lti:instrole:ims/lis/", Scope::Institution),
    ] {
        if let Some(rest) = role.strip_prefix(urn) {
            return rest.split('/').next().map(|name| (scope, name));
        }
    }
    (!role.contains([':', '/', '#'])).then_some((Scope::Course, role))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audience(roles: &[&str]) -> Audience {
        Audience::of(&roles.iter().map(|r| r.to_string()).collect::<Vec<_>>())
    }

    const M: &str = "http://purl.imsglobal.org/vocab/lis/v2/membership";
    const I: &str = "http://purl.imsglobal.org/vocab/lis/v2/institution/person";

    #[test]
    fn staff_in_every_form_see_the_course() {
        for role in [
            format!("{M}#Instructor"),
            format!("{M}/Instructor#TeachingAssistant"),
            format!("{M}#ContentDeveloper"),
            format!("{M}/ContentDeveloper#ContentExpert"),
            format!("{M}#Administrator"),
            format!("{M}/Administrator#Support"),
            format!("{I}#Instructor"),
            format!("{I}#Administrator"),
            "urn:lti:role:ims/lis/Instructor".into(),
            "urn:lti:role:ims/lis/TeachingAssistant".into(),
            "urn:lti:instrole:ims/lis/Administrator".into(),
            "Instructor".into(),
            "TeachingAssistant".into(),
        ] {
            assert_eq!(audience(&[&role]), Audience::Instructor, "{role}");
        }
    }

    #[test]
    fn learners_see_their_own_grade_and_others_nothing() {
        for role in [
            format!("{M}#Learner"),
            format!("{M}/Learner#Instructor"),
            format!("{M}/Learner#NonCreditLearner"),
            format!("{I}#Student"),
            "urn:lti:role:ims/lis/Learner".into(),
            "Learner".into(),
        ] {
            assert_eq!(audience(&[&role]), Audience::Learner, "{role}");
        }
        for roles in [
            vec![],
            vec![format!("{M}#Mentor")],
            vec![format!("{I}#Guest")],
            vec!["http://purl.imsglobal.org/vocab/lis/v2/system/person#Administrator".into()],
            vec!["https://example.edu/roles#Instructor".into()],
            vec![format!("{M}Instructor")],
        ] {
            let roles: Vec<&str> = roles.iter().map(String::as_str).collect();
            assert_eq!(audience(&roles), Audience::Neither, "{roles:?}");
        }
        let both = [format!("{M}#Learner"), format!("{M}/Instructor#Grader")];
        assert_eq!(audience(&[&both[0], &both[1]]), Audience::Instructor);
    }

    #[test]
    fn a_learner_here_who_teaches_elsewhere_sees_only_their_grade() {
        let teaches_elsewhere = [format!("{M}#Learner"), format!("{I}#Instructor")];
        assert_eq!(
            audience(&[&teaches_elsewhere[0], &teaches_elsewhere[1]]),
            Audience::Learner
        );
        let urn = [
            "urn:lti:role:ims/lis/Learner",
            "urn:lti:instrole:ims/lis/Instructor",
        ];
        assert_eq!(audience(&urn), Audience::Learner);
        // An institution administrator sees any course; without a course
        // role an institution Instructor is taken at their word.
        let admin = [format!("{M}#Learner"), format!("{I}#Administrator")];
        assert_eq!(audience(&[&admin[0], &admin[1]]), Audience::Instructor);
        assert_eq!(
            audience(&[&format!("{I}#Instructor")]),
            Audience::Instructor
        );
    }
}
