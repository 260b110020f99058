"""A deterministic, realistic sample catalog of career coaches and job leads.

It is what a new developer's demo runs on and what benchmarks scale up, so it is reproducible
(``random.Random(seed)`` only: same arguments, same catalog) and fast: every value object that
repeats (host city, language requirement) is validated once and shared, so building 100k leads
costs little more than the pydantic validation of each lead.

All names of people and organisations are invented; e-mail addresses use ``coach.example`` and
URLs ``jobs.example`` (reserved example domains). Skill and occupation labels imitate ESCO.

    catalog = generate_catalog(today=date(2026, 3, 1))
    catalog.coaches[0].coach_id    # "coach-0001"
    catalog.job_leads[0].job_lead_id  # "lead-00001"
"""

from __future__ import annotations

import gc
import random
import time
import unicodedata
from bisect import bisect
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from typing import TypeVar

from shared.contracts.catalog import Coach, JobLead, LeadKind
from shared.contracts.common import CefrLevel, Goal, LanguageSkill, Location, Sector

__all__ = ["HOST_CITIES", "Catalog", "generate_catalog"]

_T = TypeVar("_T")


@dataclass(frozen=True)
class Catalog:
    coaches: list[Coach]
    job_leads: list[JobLead]


# --------------------------------------------------------------------------------------------
# Host cities
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _City:
    name: str
    country: str
    timezone: str  # IANA
    language: str  # the local language (ISO 639-1)
    size: float  # relative share of coaches and leads
    local_language_pressure: float  # how often employers there ask for the local language
    extra_language: str | None  # a second language some employers there ask for
    local_coach_share: float  # share of coaches who grew up in the country
    sector_affinity: dict[Sector, float]


_S = Sector
_CITIES: tuple[_City, ...] = (
    _City(
        "Oslo",
        "NO",
        "Europe/Oslo",
        "no",
        6,
        1.0,
        None,
        0.6,
        {_S.ENERGY: 2, _S.INFORMATION_TECHNOLOGY: 1.5, _S.PUBLIC_SECTOR: 1.5, _S.RESEARCH: 1.2},
    ),
    _City("Stavanger", "NO", "Europe/Oslo", "no", 5, 0.9, None, 0.55, {_S.ENERGY: 6, _S.ENGINEERING: 2.5}),
    _City("Bergen", "NO", "Europe/Oslo", "no", 3, 1.0, None, 0.65, {_S.ENERGY: 3, _S.LOGISTICS: 2, _S.RESEARCH: 1.5}),
    _City(
        "Berlin",
        "DE",
        "Europe/Berlin",
        "de",
        7,
        0.9,
        None,
        0.5,
        {_S.INFORMATION_TECHNOLOGY: 3, _S.CREATIVE: 2, _S.RESEARCH: 1.5, _S.NON_PROFIT: 1.5},
    ),
    _City(
        "Munich",
        "DE",
        "Europe/Berlin",
        "de",
        5,
        1.0,
        None,
        0.6,
        {_S.ENGINEERING: 3, _S.INFORMATION_TECHNOLOGY: 1.5, _S.FINANCE: 1.2},
    ),
    _City(
        "Amsterdam",
        "NL",
        "Europe/Amsterdam",
        "nl",
        6,
        0.6,
        None,
        0.5,
        {_S.INFORMATION_TECHNOLOGY: 2, _S.CREATIVE: 1.5, _S.MARKETING: 1.5, _S.FINANCE: 1.3},
    ),
    _City(
        "Rotterdam",
        "NL",
        "Europe/Amsterdam",
        "nl",
        4,
        0.8,
        None,
        0.6,
        {_S.LOGISTICS: 4, _S.ENGINEERING: 1.5, _S.ENERGY: 1.5},
    ),
    _City(
        "London",
        "GB",
        "Europe/London",
        "en",
        10,
        1.0,
        None,
        0.5,
        {_S.FINANCE: 3, _S.LEGAL: 2, _S.MARKETING: 1.5, _S.CREATIVE: 1.3},
    ),
    _City(
        "Houston",
        "US",
        "America/Chicago",
        "en",
        6,
        1.0,
        "es",
        0.6,
        {_S.ENERGY: 5, _S.ENGINEERING: 2, _S.HEALTHCARE: 1.5},
    ),
    _City(
        "New York",
        "US",
        "America/New_York",
        "en",
        9,
        1.0,
        "es",
        0.55,
        {_S.FINANCE: 3, _S.MARKETING: 2, _S.LEGAL: 2, _S.CREATIVE: 1.5},
    ),
    _City(
        "Singapore",
        "SG",
        "Asia/Singapore",
        "en",
        7,
        1.0,
        "zh",
        0.45,
        {_S.FINANCE: 2, _S.LOGISTICS: 2, _S.INFORMATION_TECHNOLOGY: 1.5},
    ),
    _City(
        "Dubai",
        "AE",
        "Asia/Dubai",
        "ar",
        6,
        0.25,
        None,
        0.2,
        {_S.HOSPITALITY: 3, _S.LOGISTICS: 2, _S.ENERGY: 2, _S.SALES: 1.5},
    ),
    _City(
        "Zurich", "CH", "Europe/Zurich", "de", 5, 0.9, "fr", 0.55, {_S.FINANCE: 3, _S.RESEARCH: 1.5, _S.HEALTHCARE: 1.2}
    ),
    _City(
        "Copenhagen",
        "DK",
        "Europe/Copenhagen",
        "da",
        5,
        0.85,
        None,
        0.6,
        {_S.HEALTHCARE: 2, _S.ENERGY: 1.5, _S.CREATIVE: 1.5},
    ),
    _City(
        "Stockholm",
        "SE",
        "Europe/Stockholm",
        "sv",
        5,
        0.8,
        None,
        0.6,
        {_S.INFORMATION_TECHNOLOGY: 2.5, _S.CREATIVE: 1.5},
    ),
    _City(
        "Paris",
        "FR",
        "Europe/Paris",
        "fr",
        7,
        1.1,
        None,
        0.6,
        {_S.CREATIVE: 2, _S.MARKETING: 1.5, _S.LEGAL: 1.5, _S.FINANCE: 1.5},
    ),
    _City(
        "Madrid", "ES", "Europe/Madrid", "es", 5, 1.0, None, 0.65, {_S.HOSPITALITY: 2, _S.SALES: 1.5, _S.MARKETING: 1.5}
    ),
    _City(
        "Toronto",
        "CA",
        "America/Toronto",
        "en",
        6,
        1.0,
        "fr",
        0.55,
        {_S.FINANCE: 2, _S.INFORMATION_TECHNOLOGY: 1.5, _S.HEALTHCARE: 1.5},
    ),
    _City(
        "Mexico City",
        "MX",
        "America/Mexico_City",
        "es",
        5,
        1.0,
        None,
        0.7,
        {_S.SALES: 2, _S.ENGINEERING: 1.5, _S.LOGISTICS: 1.5},
    ),
)

HOST_CITIES: tuple[Location, ...] = tuple(Location(city=c.name, country=c.country) for c in _CITIES)
"""The host cities the sample covers (several per country for NO, DE, NL and US)."""

_LEGAL_FORM: dict[str, tuple[str, ...]] = {
    "NO": ("AS", "ASA"),
    "DE": ("GmbH", "AG", "SE"),
    "NL": ("B.V.", "N.V."),
    "GB": ("Ltd", "plc"),
    "US": ("Inc.", "LLC", "Corp."),
    "SG": ("Pte. Ltd.",),
    "AE": ("LLC", "FZE"),
    "CH": ("AG", "GmbH"),
    "DK": ("A/S", "ApS"),
    "SE": ("AB",),
    "FR": ("SAS", "SA"),
    "ES": ("S.L.", "S.A."),
    "CA": ("Inc.", "Ltd."),
    "MX": ("S.A. de C.V.",),
}

# The language a language course teaches, by the name its first skill gives (evaluation truth).
_LANGUAGE_NAME: dict[str, str] = {
    "no": "Norwegian",
    "de": "German",
    "nl": "Dutch",
    "en": "English",
    "ar": "Arabic",
    "da": "Danish",
    "sv": "Swedish",
    "fr": "French",
    "es": "Spanish",
    "zh": "Mandarin",
}


def taught_language(lead: JobLead) -> str | None:
    """The language code a generated language course teaches, None for any other lead."""
    if lead.occupation != "language learner" or not lead.skills:
        return None
    return next((code for code, name in _LANGUAGE_NAME.items() if name == lead.skills[0]), None)


# --------------------------------------------------------------------------------------------
# Sectors: occupations, skills (ESCO-like labels), organisation names, courses
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Occupation:
    title: str
    occupation: str
    core_skills: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _SectorProfile:
    label: str  # as in "Women in <label> <city> network"
    weight: float  # base share of leads
    local_language: float  # how often a job in this sector asks for the local language
    senior_language: bool  # jobs in this sector ask for C1 rather than B1/B2
    remote_share: float
    skills: tuple[str, ...]
    occupations: tuple[_Occupation, ...]
    org_nouns: tuple[str, ...]
    courses: tuple[str, ...]


def _occ(title: str, occupation: str, *core: str) -> _Occupation:
    return _Occupation(title, occupation, core)


_SECTORS: dict[Sector, _SectorProfile] = {
    Sector.ENERGY: _SectorProfile(
        "Energy",
        0.7,
        0.45,
        False,
        0.07,
        (
            "offshore drilling operations",
            "petroleum engineering",
            "perform well tests",
            "reservoir simulation",
            "interpret geological data",
            "subsea engineering",
            "maintain wind turbines",
            "monitor electricity generation",
            "power grid operations",
            "electricity market",
            "renewable energy technologies",
            "carbon capture and storage",
            "hydrogen production",
            "apply health and safety standards",
            "ensure compliance with safety legislation",
            "perform risk analysis",
            "assess environmental impact",
            "manage energy projects",
        ),
        (
            _occ("Petroleum engineer", "petroleum engineer", "petroleum engineering", "perform well tests"),
            _occ("Drilling engineer", "drilling engineer", "offshore drilling operations", "perform risk analysis"),
            _occ("Reservoir engineer", "reservoir engineer", "reservoir simulation", "interpret geological data"),
            _occ("Subsea engineer", "subsea engineer", "subsea engineering", "perform risk analysis"),
            _occ(
                "Wind turbine technician",
                "wind turbine technician",
                "maintain wind turbines",
                "apply health and safety standards",
            ),
            _occ(
                "Power systems engineer",
                "electrical power engineer",
                "power grid operations",
                "monitor electricity generation",
            ),
            _occ("Energy market analyst", "energy analyst", "electricity market", "perform risk analysis"),
            _occ(
                "HSE advisor",
                "health and safety officer",
                "apply health and safety standards",
                "ensure compliance with safety legislation",
            ),
            _occ(
                "Energy transition consultant",
                "energy consultant",
                "renewable energy technologies",
                "carbon capture and storage",
            ),
        ),
        ("Energy", "Offshore", "Subsea", "Power", "Renewables", "Drilling", "Wind"),
        (
            "Offshore safety and emergency training (basic)",
            "Renewable energy project management course",
            "Energy transition certificate programme",
        ),
    ),
    Sector.ENGINEERING: _SectorProfile(
        "Engineering",
        1.2,
        0.5,
        False,
        0.08,
        (
            "use CAD software",
            "mechanical engineering",
            "civil engineering",
            "structural analysis",
            "perform finite element analysis",
            "read engineering drawings",
            "design electrical systems",
            "PLC programming",
            "automation technology",
            "ensure quality standards",
            "perform root cause analysis",
            "lean manufacturing",
            "create technical plans",
            "manage project",
            "execute analytical mathematical calculations",
            "apply health and safety standards",
        ),
        (
            _occ("Mechanical engineer", "mechanical engineer", "mechanical engineering", "use CAD software"),
            _occ("Civil engineer", "civil engineer", "civil engineering", "structural analysis"),
            _occ(
                "Structural engineer", "structural engineer", "structural analysis", "perform finite element analysis"
            ),
            _occ(
                "Electrical engineer", "electrical engineer", "design electrical systems", "read engineering drawings"
            ),
            _occ("Automation engineer", "automation engineer", "PLC programming", "automation technology"),
            _occ("Quality engineer", "quality engineer", "ensure quality standards", "perform root cause analysis"),
            _occ("Project engineer", "project engineer", "manage project", "create technical plans"),
            _occ(
                "Process engineer",
                "process engineer",
                "lean manufacturing",
                "execute analytical mathematical calculations",
            ),
        ),
        ("Engineering", "Structures", "Automation", "Industrial", "Mechanics", "Consulting Engineers"),
        (
            "Engineering qualification recognition workshop",
            "CAD refresher course for engineers",
            "Lean manufacturing green belt course",
        ),
    ),
    Sector.INFORMATION_TECHNOLOGY: _SectorProfile(
        "Tech",
        1.5,
        0.3,
        False,
        0.45,
        (
            "Python (computer programming)",
            "Java (computer programming)",
            "JavaScript",
            "TypeScript",
            "SQL",
            "cloud technologies",
            "DevOps",
            "Kubernetes",
            "machine learning",
            "analyse big data",
            "design user interface",
            "create software design",
            "debug software",
            "implement ICT security policies",
            "ICT security legislation",
            "agile project management",
            "tools for software configuration management",
            "ICT system integration",
        ),
        (
            _occ("Backend developer", "software developer", "Python (computer programming)", "SQL"),
            _occ("Java developer", "software developer", "Java (computer programming)", "debug software"),
            _occ("Frontend developer", "web developer", "JavaScript", "TypeScript"),
            _occ("Data scientist", "data scientist", "machine learning", "Python (computer programming)"),
            _occ("Data analyst", "data analyst", "SQL", "analyse big data"),
            _occ("DevOps engineer", "DevOps engineer", "DevOps", "Kubernetes"),
            _occ("Cloud architect", "ICT system architect", "cloud technologies", "create software design"),
            _occ(
                "IT security analyst",
                "ICT security analyst",
                "implement ICT security policies",
                "ICT security legislation",
            ),
            _occ(
                "Scrum master",
                "ICT project manager",
                "agile project management",
                "tools for software configuration management",
            ),
            _occ("QA engineer", "software tester", "debug software", "ICT system integration"),
        ),
        ("Labs", "Software", "Data", "Systems", "Cloud", "Digital", "Tech"),
        (
            "Data analytics bootcamp",
            "Cloud fundamentals certificate course",
            "Full-stack web development bootcamp",
            "UX design evening course",
        ),
    ),
    Sector.FINANCE: _SectorProfile(
        "Finance",
        1.0,
        0.5,
        False,
        0.16,
        (
            "perform financial analysis",
            "prepare financial statements",
            "International Financial Reporting Standards",
            "analyse financial risk",
            "accounting techniques",
            "audit techniques",
            "tax legislation",
            "use spreadsheets software",
            "financial forecasting",
            "manage budgets",
            "create financial models",
            "banking activities",
            "portfolio management",
            "anti-money laundering regulations",
            "payroll administration",
        ),
        (
            _occ("Financial analyst", "financial analyst", "perform financial analysis", "create financial models"),
            _occ("Accountant", "accountant", "prepare financial statements", "accounting techniques"),
            _occ(
                "Financial controller",
                "financial controller",
                "manage budgets",
                "International Financial Reporting Standards",
            ),
            _occ("Auditor", "auditor", "audit techniques", "prepare financial statements"),
            _occ("Tax advisor", "tax advisor", "tax legislation", "accounting techniques"),
            _occ("Risk analyst", "financial risk manager", "analyse financial risk", "financial forecasting"),
            _occ(
                "Compliance officer (AML)",
                "compliance officer",
                "anti-money laundering regulations",
                "banking activities",
            ),
            _occ("Portfolio analyst", "investment analyst", "portfolio management", "perform financial analysis"),
            _occ("Payroll specialist", "payroll clerk", "payroll administration", "use spreadsheets software"),
        ),
        ("Capital", "Partners", "Finance", "Advisory", "Asset Management", "Accounting"),
        (
            "Local accounting standards conversion course",
            "Financial modelling masterclass",
            "Anti-money laundering certificate course",
        ),
    ),
    Sector.HEALTHCARE: _SectorProfile(
        "Healthcare",
        1.3,
        0.9,
        True,
        0.04,
        (
            "provide nursing care",
            "follow clinical guidelines",
            "administer medication",
            "perform physical examinations",
            "manage healthcare users' data",
            "pharmacology",
            "provide physiotherapy",
            "conduct clinical trials",
            "first aid",
            "communicate in healthcare",
            "geriatrics",
            "mental health care",
            "apply evidence-based approaches in nursing",
            "empathise with the healthcare user",
            "oral hygiene",
            "psychotherapy",
        ),
        (
            _occ("Registered nurse", "general nurse", "provide nursing care", "follow clinical guidelines"),
            _occ("Physiotherapist", "physiotherapist", "provide physiotherapy", "perform physical examinations"),
            _occ("Pharmacist", "pharmacist", "pharmacology", "administer medication"),
            _occ(
                "General practitioner",
                "general practitioner",
                "perform physical examinations",
                "follow clinical guidelines",
            ),
            _occ(
                "Clinical research associate",
                "clinical research associate",
                "conduct clinical trials",
                "manage healthcare users' data",
            ),
            _occ("Psychologist", "psychologist", "psychotherapy", "mental health care"),
            _occ("Dental hygienist", "dental hygienist", "oral hygiene", "communicate in healthcare"),
            _occ("Care assistant", "healthcare assistant", "geriatrics", "empathise with the healthcare user"),
        ),
        ("Health", "Care", "Clinic", "Medical", "Pharma", "Therapy"),
        (
            "Licence recognition course for foreign-trained nurses",
            "Clinical communication course for international doctors",
            "Health care assistant certificate course",
        ),
    ),
    Sector.EDUCATION: _SectorProfile(
        "Education",
        0.9,
        0.8,
        True,
        0.12,
        (
            "apply teaching strategies",
            "assess students",
            "prepare lesson content",
            "perform classroom management",
            "curriculum objectives",
            "special needs education",
            "teach mathematics",
            "e-learning",
            "Montessori teaching principles",
            "early childhood education",
            "facilitate teamwork between students",
            "assist students in their learning",
            "teach language",
            "design instructional material",
        ),
        (
            _occ(
                "Primary school teacher",
                "primary school teacher",
                "apply teaching strategies",
                "perform classroom management",
            ),
            _occ("Mathematics teacher (secondary)", "secondary school teacher", "teach mathematics", "assess students"),
            _occ(
                "Early years educator",
                "early years teacher",
                "early childhood education",
                "Montessori teaching principles",
            ),
            _occ("English language teacher", "language school teacher", "teach language", "prepare lesson content"),
            _occ(
                "Special education teacher",
                "special educational needs teacher",
                "special needs education",
                "assist students in their learning",
            ),
            _occ("Instructional designer", "instructional designer", "design instructional material", "e-learning"),
            _occ(
                "Teaching assistant",
                "teaching assistant",
                "assist students in their learning",
                "facilitate teamwork between students",
            ),
        ),
        ("International School", "Learning", "Academy", "Education", "Kindergarten"),
        (
            "Teacher qualification bridging programme",
            "Montessori teaching certificate",
            "Teaching languages to adults workshop",
        ),
    ),
    Sector.RESEARCH: _SectorProfile(
        "Research",
        0.6,
        0.2,
        False,
        0.2,
        (
            "perform scientific research",
            "write scientific publications",
            "apply for research funding",
            "use statistical analysis techniques",
            "perform laboratory tests",
            "manage research data",
            "molecular biology",
            "design scientific experiments",
            "R (computer programming)",
            "MATLAB",
            "conduct literature research",
            "collect experimental data",
            "present reports",
            "apply research ethics and scientific integrity principles in research activities",
            "climate science",
            "analytical chemistry",
        ),
        (
            _occ(
                "Postdoctoral researcher", "researcher", "perform scientific research", "write scientific publications"
            ),
            _occ("Research scientist, chemistry", "chemist", "analytical chemistry", "perform laboratory tests"),
            _occ(
                "Laboratory technician", "chemistry technician", "perform laboratory tests", "collect experimental data"
            ),
            _occ("Biostatistician", "statistician", "use statistical analysis techniques", "R (computer programming)"),
            _occ("Research coordinator", "research manager", "apply for research funding", "manage research data"),
            _occ("Molecular biologist", "molecular biologist", "molecular biology", "design scientific experiments"),
            _occ("Climate researcher", "climatologist", "climate science", "MATLAB"),
        ),
        ("Institute", "Research", "Biosciences", "Laboratories", "Science Centre"),
        ("Research grant writing workshop", "Research data management course", "Statistics with R short course"),
    ),
    Sector.MARKETING: _SectorProfile(
        "Marketing",
        0.9,
        0.6,
        False,
        0.3,
        (
            "digital marketing techniques",
            "perform search engine optimisation",
            "social media marketing techniques",
            "content marketing strategy",
            "execute marketing plan",
            "perform market research",
            "brand marketing techniques",
            "web analytics",
            "plan marketing campaigns",
            "develop communications strategies",
            "use customer relationship management software",
            "write content",
            "manage budgets",
            "public relations",
        ),
        (
            _occ("Marketing manager", "marketing manager", "execute marketing plan", "plan marketing campaigns"),
            _occ(
                "Digital marketing specialist",
                "digital marketing manager",
                "digital marketing techniques",
                "web analytics",
            ),
            _occ(
                "Content marketing manager", "content marketing manager", "content marketing strategy", "write content"
            ),
            _occ(
                "SEO specialist",
                "search engine optimisation expert",
                "perform search engine optimisation",
                "web analytics",
            ),
            _occ("Brand manager", "brand manager", "brand marketing techniques", "perform market research"),
            _occ(
                "Communications officer",
                "communication manager",
                "develop communications strategies",
                "public relations",
            ),
            _occ("Social media manager", "social media manager", "social media marketing techniques", "write content"),
            _occ("Market research analyst", "market research analyst", "perform market research", "web analytics"),
        ),
        ("Media", "Brands", "Communications", "Marketing", "Agency"),
        (
            "Digital marketing certificate course",
            "Content and social media marketing bootcamp",
            "Search engine optimisation workshop",
        ),
    ),
    Sector.SALES: _SectorProfile(
        "Sales",
        1.0,
        0.75,
        False,
        0.2,
        (
            "negotiate sales contracts",
            "build business relationships",
            "manage key accounts",
            "sales strategies",
            "identify new business opportunities",
            "use customer relationship management software",
            "produce sales reports",
            "perform cold calling",
            "customer service",
            "product comprehension",
            "perform sales closures",
            "manage sales teams",
        ),
        (
            _occ("Key account manager", "key account manager", "manage key accounts", "build business relationships"),
            _occ(
                "Sales representative",
                "commercial sales representative",
                "perform sales closures",
                "perform cold calling",
            ),
            _occ(
                "Business development manager",
                "business development manager",
                "identify new business opportunities",
                "negotiate sales contracts",
            ),
            _occ(
                "Inside sales representative",
                "sales representative",
                "perform cold calling",
                "use customer relationship management software",
            ),
            _occ(
                "Sales engineer", "technical sales representative", "product comprehension", "negotiate sales contracts"
            ),
            _occ(
                "Customer success manager",
                "customer relationship manager",
                "customer service",
                "build business relationships",
            ),
            _occ("Sales team lead", "sales manager", "manage sales teams", "sales strategies"),
        ),
        ("Trading", "Sales", "Commerce", "Distribution", "Retail"),
        ("Consultative selling workshop", "B2B sales masterclass", "Key account management course"),
    ),
    Sector.LEGAL: _SectorProfile(
        "Law",
        0.5,
        0.85,
        True,
        0.1,
        (
            "legal research",
            "draft legal documents",
            "contract law",
            "corporate law",
            "provide legal advice",
            "immigration law",
            "employment law",
            "data protection",
            "EU law",
            "intellectual property law",
            "negotiate agreements",
            "legal case management",
            "compile legal documents",
        ),
        (
            _occ("Corporate lawyer", "corporate lawyer", "corporate law", "draft legal documents"),
            _occ("Legal counsel", "legal consultant", "provide legal advice", "contract law"),
            _occ("Paralegal", "paralegal", "compile legal documents", "legal research"),
            _occ("Contract manager", "contract manager", "contract law", "negotiate agreements"),
            _occ("Immigration lawyer", "lawyer", "immigration law", "legal case management"),
            _occ("Data protection officer", "data protection officer", "data protection", "EU law"),
            _occ("Employment lawyer", "lawyer", "employment law", "provide legal advice"),
            _occ(
                "IP counsel", "intellectual property consultant", "intellectual property law", "draft legal documents"
            ),
        ),
        ("Legal", "Law", "Attorneys", "Legal Partners"),
        (
            "Qualified lawyers transfer preparation course",
            "Data protection officer certification course",
            "Local employment law for HR professionals",
        ),
    ),
    Sector.HOSPITALITY: _SectorProfile(
        "Hospitality",
        0.8,
        0.6,
        False,
        0.01,
        (
            "customer service",
            "comply with food safety and hygiene",
            "coordinate activities in hospitality",
            "manage staff",
            "handle customer complaints",
            "plan menus",
            "prepare food",
            "greet guests",
            "hospitality revenue management",
            "coordinate events",
            "manage front office operations",
            "maintain hygiene standards",
            "prepare coffee specialities",
        ),
        (
            _occ("Hotel manager", "hotel manager", "coordinate activities in hospitality", "manage staff"),
            _occ("Front office manager", "front office manager", "manage front office operations", "greet guests"),
            _occ("Sous chef", "sous chef", "prepare food", "plan menus"),
            _occ("Restaurant manager", "restaurant manager", "manage staff", "handle customer complaints"),
            _occ("Event coordinator", "event planner", "coordinate events", "customer service"),
            _occ(
                "Revenue manager",
                "hospitality revenue manager",
                "hospitality revenue management",
                "coordinate activities in hospitality",
            ),
            _occ("Barista", "barista", "prepare coffee specialities", "comply with food safety and hygiene"),
            _occ("Housekeeping supervisor", "housekeeping supervisor", "maintain hygiene standards", "manage staff"),
        ),
        ("Hotels", "Hospitality", "Resorts", "Dining", "Kitchen"),
        ("Food safety and hygiene certificate", "Barista skills course", "Hotel revenue management course"),
    ),
    Sector.LOGISTICS: _SectorProfile(
        "Logistics",
        0.8,
        0.55,
        False,
        0.08,
        (
            "supply chain management",
            "manage inventory",
            "plan transport operations",
            "customs regulations",
            "warehouse operations",
            "enterprise resource planning",
            "freight transport methods",
            "demand planning",
            "negotiate supplier arrangements",
            "purchasing",
            "port operations",
            "fleet management",
            "maritime transport",
            "organise storage facilities",
        ),
        (
            _occ("Supply chain analyst", "supply chain analyst", "supply chain management", "demand planning"),
            _occ(
                "Logistics coordinator", "logistics analyst", "plan transport operations", "freight transport methods"
            ),
            _occ("Procurement specialist", "purchaser", "purchasing", "negotiate supplier arrangements"),
            _occ("Warehouse manager", "warehouse manager", "warehouse operations", "manage inventory"),
            _occ("Freight forwarder", "freight forwarder", "customs regulations", "freight transport methods"),
            _occ("Demand planner", "supply chain planner", "demand planning", "enterprise resource planning"),
            _occ("Port operations coordinator", "port coordinator", "port operations", "maritime transport"),
            _occ("Fleet manager", "fleet manager", "fleet management", "plan transport operations"),
        ),
        ("Logistics", "Freight", "Shipping", "Cargo", "Supply"),
        (
            "Supply chain management certificate",
            "Customs and trade compliance course",
            "Forklift and warehouse safety certificate",
        ),
    ),
    Sector.CREATIVE: _SectorProfile(
        "Design",
        0.5,
        0.5,
        False,
        0.35,
        (
            "design graphics",
            "take photographs",
            "develop creative ideas",
            "design user experience",
            "edit digital moving images",
            "write creative texts",
            "typography",
            "illustration techniques",
            "brand identity design",
            "3D modelling",
            "create storyboards",
            "art direction",
            "interior design",
            "create prototype of user experience solutions",
        ),
        (
            _occ("Graphic designer", "graphic designer", "design graphics", "typography"),
            _occ(
                "UX designer",
                "user experience designer",
                "design user experience",
                "create prototype of user experience solutions",
            ),
            _occ("Photographer", "photographer", "take photographs", "develop creative ideas"),
            _occ("Video editor", "film and video editor", "edit digital moving images", "create storyboards"),
            _occ("Copywriter", "copywriter", "write creative texts", "develop creative ideas"),
            _occ("Art director", "art director", "art direction", "brand identity design"),
            _occ("Illustrator", "illustrator", "illustration techniques", "design graphics"),
            _occ("Interior designer", "interior designer", "interior design", "3D modelling"),
        ),
        ("Studio", "Design", "Creative", "Films", "Works"),
        ("Graphic design portfolio course", "Photography evening course", "UX writing workshop"),
    ),
    Sector.PUBLIC_SECTOR: _SectorProfile(
        "Public Service",
        0.5,
        0.95,
        True,
        0.06,
        (
            "government policy implementation",
            "public procurement",
            "analyse legislation",
            "urban planning",
            "draft tender documentation",
            "advise legislators",
            "write work-related reports",
            "manage budgets",
            "community development",
            "apply social work methods",
            "public health",
            "statistics",
            "support migrants to integrate in the receiving country",
        ),
        (
            _occ("Policy advisor", "policy officer", "government policy implementation", "analyse legislation"),
            _occ("Urban planner", "urban planner", "urban planning", "write work-related reports"),
            _occ("Procurement officer", "public purchaser", "public procurement", "draft tender documentation"),
            _occ("Social worker", "social worker", "apply social work methods", "community development"),
            _occ(
                "Integration officer",
                "integration officer",
                "support migrants to integrate in the receiving country",
                "community development",
            ),
            _occ("Statistician", "statistician", "statistics", "write work-related reports"),
            _occ("Public health advisor", "public health policy officer", "public health", "advise legislators"),
        ),
        (),  # public employers are named after the city, see _organisation
        ("Introduction to public administration course", "Public procurement basics course"),
    ),
    Sector.NON_PROFIT: _SectorProfile(
        "Non-Profit",
        0.4,
        0.7,
        False,
        0.18,
        (
            "organise fundraising activities",
            "manage volunteers",
            "manage grants",
            "advocate a cause",
            "manage project",
            "perform community work",
            "write funding applications",
            "humanitarian aid",
            "maintain relationship with donors",
            "support migrants to integrate in the receiving country",
            "monitor and evaluate programmes",
            "social inclusion",
        ),
        (
            _occ("Programme coordinator", "programme coordinator", "manage project", "monitor and evaluate programmes"),
            _occ(
                "Fundraising manager",
                "fundraising manager",
                "organise fundraising activities",
                "maintain relationship with donors",
            ),
            _occ("Volunteer coordinator", "volunteer manager", "manage volunteers", "perform community work"),
            _occ("Grants officer", "grants officer", "manage grants", "write funding applications"),
            _occ("Advocacy officer", "advocacy worker", "advocate a cause", "social inclusion"),
            _occ("Humanitarian project officer", "humanitarian advisor", "humanitarian aid", "manage project"),
            _occ(
                "Community outreach worker",
                "community development worker",
                "perform community work",
                "support migrants to integrate in the receiving country",
            ),
        ),
        ("Foundation", "Trust", "Aid", "Alliance", "Initiative"),
        ("Nonprofit fundraising certificate", "Volunteer management course"),
    ),
    Sector.OTHER: _SectorProfile(
        "Business",
        0.6,
        0.6,
        False,
        0.2,
        (
            "human resource management",
            "recruit employees",
            "perform clerical duties",
            "manage schedule of tasks",
            "fix meetings",
            "translate texts",
            "real estate market",
            "office administration",
            "onboarding",
            "employment law",
            "business administration",
            "start a business",
        ),
        (
            _occ("HR generalist", "human resources officer", "human resource management", "onboarding"),
            _occ("Recruiter", "recruiter", "recruit employees", "human resource management"),
            _occ("Office manager", "office manager", "office administration", "perform clerical duties"),
            _occ("Executive assistant", "executive assistant", "manage schedule of tasks", "fix meetings"),
            _occ("Translator", "translator", "translate texts", "perform clerical duties"),
            _occ("Relocation consultant", "relocation officer", "real estate market", "onboarding"),
            _occ("Real estate agent", "real estate agent", "real estate market", "business administration"),
        ),
        ("Services", "Group", "Consulting", "Solutions", "Holding"),
        (
            "HR management certificate course",
            "Certified translator exam preparation",
            "Entrepreneurship programme for international newcomers",
            "Start your own business course",
        ),
    ),
}

_TRANSVERSAL_SKILLS: tuple[str, ...] = (
    "work in an international environment",
    "think analytically",
    "adapt to change",
    "lead a team",
    "show intercultural awareness",
    "present reports",
    "manage time",
    "work in teams",
)

# Invented organisation stems: unusual compounds chosen not to be real company names.
_ORG_STEMS: tuple[str, ...] = (
    "Aldervane",
    "Brightfjord",
    "Corvanta",
    "Dovrefield",
    "Emberline",
    "Fernhollow",
    "Glasswing",
    "Harborlight",
    "Ironbirch",
    "Juniperhale",
    "Kestrelwood",
    "Lanternholm",
    "Marrowstone",
    "Northmere",
    "Oakspire",
    "Pellucid",
    "Quillmark",
    "Ravensholm",
    "Saltrock",
    "Thornquist",
    "Ulvenholt",
    "Valdora",
    "Westerkamp",
    "Yarrowby",
    "Zephyrine",
    "Bluecairn",
    "Copperwick",
    "Driftmoor",
    "Elkhaven",
    "Foxglade",
    "Greyhelm",
    "Hollowell",
    "Islestone",
    "Kelpmoor",
    "Larkspire",
    "Mistral Bay",
    "Nettlebank",
    "Orrin & Vale",
    "Pinnacleo",
    "Skarvik",
    "Tollmere",
    "Vindholm",
    "Wrenfield",
)

_VOLUNTEER_ORGS: tuple[str, ...] = (
    "{city} Welcome Network",
    "{city} Volunteer Centre",
    "{stem} Foundation",
    "{stem} Aid",
    "Newcomers {city}",
)
_NETWORK_ORGS: tuple[str, ...] = (
    "{city} International Professionals Association",
    "{city} Expat Partners Club",
    "{stem} Network",
    "Women in {label} {city}",
    "{label} Circle {city}",
)
_PUBLIC_ORGS: tuple[str, ...] = (
    "City of {city}, Department of Urban Development",
    "City of {city}, Social Services Agency",
    "{city} Regional Planning Office",
    "{city} Municipal Health Agency",
    "{city} Statistics Office",
    "{city} Integration Office",
)
_COURSE_ORGS: tuple[str, ...] = (
    "{stem} Academy",
    "{stem} Training Institute",
    "{city} Adult Education Centre",
    "{stem} Professional Institute",
)
_LANGUAGE_SCHOOLS: tuple[str, ...] = (
    "{stem} Language School",
    "{city} Adult Education Centre",
    "{stem} Language Institute",
)

_NETWORK_TITLES: tuple[str, ...] = (
    "Women in {label} {city} network",
    "{city} {label} professionals meetup",
    "International {label} network {city}",
    "{label} mentoring circle for newcomers – {city}",
    "Expat partners career network {city}",
    "{city} international professionals breakfast",
)
_NETWORK_REMOTE_TITLE = "Online {label} community for international professionals"

_LANGUAGE_COURSE_TITLES: tuple[str, ...] = (
    "{lang} course {level} evening class",
    "Intensive {lang} course {level}",
    "{lang} for professionals {level}",
    "{lang} for newcomers {level} (daytime)",
)
_LANGUAGE_COURSE_REMOTE_TITLE = "Online {lang} course {level}"


@dataclass(frozen=True, slots=True)
class _Volunteering:
    title: str
    occupation: str
    skills: tuple[str, ...]


_VOLUNTEERING: dict[Sector, tuple[_Volunteering, ...]] = {
    Sector.NON_PROFIT: (
        _Volunteering(
            "Refugee mentoring volunteer",
            "volunteer mentor",
            (
                "mentor individuals",
                "show intercultural awareness",
                "listen actively",
                "support migrants to integrate in the receiving country",
            ),
        ),
        _Volunteering(
            "Charity fundraising volunteer",
            "fundraising volunteer",
            (
                "organise fundraising activities",
                "advocate a cause",
                "build business relationships",
                "social media marketing techniques",
            ),
        ),
        _Volunteering(
            "Language café host volunteer",
            "volunteer",
            (
                "facilitate group discussions",
                "show intercultural awareness",
                "speak different languages",
                "listen actively",
            ),
        ),
        _Volunteering(
            "Board member, international parents' association",
            "volunteer board member",
            ("manage budgets", "chair a meeting", "advocate a cause", "develop organisational policies"),
        ),
    ),
    Sector.LOGISTICS: (
        _Volunteering(
            "Food bank logistics volunteer",
            "volunteer",
            ("manage inventory", "organise storage facilities", "comply with food safety and hygiene", "work in teams"),
        ),
    ),
    Sector.EDUCATION: (
        _Volunteering(
            "Homework help volunteer for newcomer children",
            "volunteer tutor",
            (
                "assist students in their learning",
                "show intercultural awareness",
                "listen actively",
                "adapt teaching to student's capabilities",
            ),
        ),
    ),
    Sector.LEGAL: (
        _Volunteering(
            "Pro bono legal clinic volunteer",
            "legal volunteer",
            ("provide legal advice", "legal research", "immigration law", "listen actively"),
        ),
    ),
    Sector.HEALTHCARE: (
        _Volunteering(
            "Hospital visitor volunteer",
            "volunteer",
            (
                "empathise with the healthcare user",
                "listen actively",
                "show intercultural awareness",
                "communicate in healthcare",
            ),
        ),
    ),
    Sector.CREATIVE: (
        _Volunteering(
            "Museum guide volunteer",
            "volunteer guide",
            ("engage audiences", "speak different languages", "present exhibitions", "develop creative ideas"),
        ),
    ),
    Sector.INFORMATION_TECHNOLOGY: (
        _Volunteering(
            "Digital skills volunteer for seniors",
            "volunteer trainer",
            ("teach digital literacy", "listen actively", "use different communication channels", "debug software"),
        ),
    ),
}

# --------------------------------------------------------------------------------------------
# People: invented names by origin, each origin with its native language
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Origin:
    language: str
    given: tuple[str, ...]
    family: tuple[str, ...]


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


_ORIGINS: dict[str, _Origin] = {
    "NO": _Origin(
        "no",
        _names(
            "Ingrid, Kari, Sigrid, Marit, Solveig, Silje, Torunn, Ola, Lars, Øyvind, Henrik, Eirik, Ragnhild, Sindre"
        ),
        _names(
            "Hansen, Johansen, Olsen, Larsen, Berg, Haugen, Solberg, Dahl, Lunde, Strand, Nygård, Bakke, Fjeld, Aasen"
        ),
    ),
    "DE": _Origin(
        "de",
        _names("Anna, Katrin, Julia, Sabine, Lena, Miriam, Jonas, Matthias, Felix, Stefan, Lukas, Tobias, Ulrike, Jan"),
        _names(
            "Müller, Schneider, Fischer, Weber, Becker, Hoffmann, Wagner, Krüger, Schulz, Brandt, "
            "Vogel, Lehmann, Köhler, Busch"
        ),
    ),
    "NL": _Origin(
        "nl",
        _names("Sanne, Eva, Femke, Lotte, Anouk, Marieke, Daan, Jeroen, Bram, Ruben, Pieter, Joost, Ilse, Wouter"),
        _names(
            "de Vries, Jansen, van Dijk, Bakker, Visser, Smit, Meijer, de Boer, Mulder, "
            "van den Berg, Dekker, Kuipers, Hoekstra, Verbeek"
        ),
    ),
    "GB": _Origin(
        "en",
        _names(
            "Emma, Olivia, Charlotte, Sophie, Hannah, Rebecca, Fiona, James, Oliver, Thomas, "
            "William, Harry, Callum, Imogen"
        ),
        _names(
            "Smith, Taylor, Brown, Wilson, Evans, Walker, Hughes, Robinson, Clarke, Wright, "
            "Turner, Hall, Pritchard, Fletcher"
        ),
    ),
    "US": _Origin(
        "en",
        _names(
            "Jennifer, Ashley, Megan, Lauren, Kimberly, Nicole, Michael, Christopher, Daniel, "
            "Ryan, Brian, Tyler, Shauna, Marcus"
        ),
        _names(
            "Johnson, Williams, Miller, Davis, Anderson, Thompson, Moore, Jackson, Harris, Martin, "
            "Lee, Coleman, Brooks, Whitaker"
        ),
    ),
    "DK": _Origin(
        "da",
        _names(
            "Mette, Camilla, Line, Louise, Ida, Pernille, Rasmus, Mads, Søren, Frederik, Anders, Kasper, Signe, Jesper"
        ),
        _names(
            "Nielsen, Jensen, Pedersen, Andersen, Christensen, Rasmussen, Jørgensen, Madsen, "
            "Kristensen, Sørensen, Thomsen, Poulsen, Bech, Holst"
        ),
    ),
    "SE": _Origin(
        "sv",
        _names("Elin, Karin, Maja, Linnea, Frida, Astrid, Erik, Johan, Oskar, Gustav, Emil, Viktor, Sofia, Henrik"),
        _names(
            "Andersson, Johansson, Karlsson, Nilsson, Eriksson, Lindqvist, Lindberg, Bergström, "
            "Sjöberg, Holm, Lundgren, Ek, Wallin, Söderberg"
        ),
    ),
    "FR": _Origin(
        "fr",
        _names(
            "Camille, Chloé, Manon, Léa, Claire, Élodie, Julien, Nicolas, Antoine, Mathieu, "
            "Pierre, Hugo, Margaux, Benoît"
        ),
        _names(
            "Martin, Bernard, Dubois, Durand, Lefebvre, Moreau, Laurent, Girard, Roux, Fontaine, "
            "Chevalier, Mercier, Lambert, Perrin"
        ),
    ),
    "ES": _Origin(
        "es",
        _names(
            "Lucía, Carmen, Marta, Elena, Paula, Nuria, Javier, Alejandro, Pablo, Sergio, Diego, Álvaro, Irene, Iñigo"
        ),
        _names(
            "García, Fernández, López, Martínez, Sánchez, Romero, Navarro, Ortega, Delgado, "
            "Castillo, Ruiz, Moreno, Iglesias, Vidal"
        ),
    ),
    "MX": _Origin(
        "es",
        _names(
            "Guadalupe, Ximena, Fernanda, Mariana, Valeria, Itzel, José Luis, Juan Carlos, "
            "Miguel Ángel, Rodrigo, Emiliano, Andrés, Citlali, Ricardo"
        ),
        _names(
            "Hernández, González, Ramírez, Flores, Cruz, Reyes, Morales, Jiménez, Mendoza, "
            "Vázquez, Aguilar, Castañeda, Ibarra, Salinas"
        ),
    ),
    "CH": _Origin(
        "de",
        _names(
            "Reto, Urs, Beat, Jürg, Lukas, Thomas, Corinne, Nadia, Simone, Flurina, Andrea, Martina, Seraina, Matthias"
        ),
        _names(
            "Meier, Keller, Huber, Brunner, Baumann, Frei, Zimmermann, Gerber, Graf, Steiner, "
            "Widmer, Moser, Bachmann, Suter"
        ),
    ),
    "CA": _Origin(
        "en",
        _names(
            "Émilie, Geneviève, Sarah, Jessica, Chantal, Mathieu, Patrick, Kevin, Alexandre, "
            "Marc-André, Liam, Noah, Brianne, Owen"
        ),
        _names(
            "Tremblay, Gagnon, Roy, Côté, Bouchard, Gauthier, MacDonald, Campbell, Stewart, Morin, "
            "Lavoie, Fraser, Leblanc, Cormier"
        ),
    ),
    "SG": _Origin(
        "en",
        _names(
            "Wei Ling, Hui Min, Jia Hui, Mei Xin, Shu Fen, Jun Jie, Zhi Hao, Kai Wen, "
            "Wei Jie, Pei Shan, Kavitha, Rajesh, Nurul, Farhan"
        ),
        _names("Tan, Lim, Lee, Ng, Ong, Wong, Goh, Chua, Teo, Koh, Pillai, Rahman, Sim, Yeo"),
    ),
    "AE": _Origin(
        "ar",
        _names("Fatima, Aisha, Mariam, Noura, Layla, Rania, Omar, Ahmed, Khalid, Yousef, Karim, Hamdan, Salma, Tariq"),
        _names(
            "Al Mansouri, Al Hashimi, Haddad, Khoury, Nasser, Saleh, Farouk, Rahman, Aziz, "
            "Mansour, Hassan, El-Amin, Qasim, Darwish"
        ),
    ),
    # Origins of no host country: the minority languages partners often speak.
    "PL": _Origin(
        "pl",
        _names(
            "Agnieszka, Katarzyna, Magdalena, Joanna, Aleksandra, Ewa, Piotr, Tomasz, "
            "Krzysztof, Paweł, Marcin, Michał, Zofia, Jakub"
        ),
        _names(
            "Nowak, Wójcik, Kowalczyk, Mazur, Krawczyk, Zając, Król, Wieczorek, Pawlak, Michalak, "
            "Walczak, Sikora, Baran, Duda"
        ),
    ),
    "UA": _Origin(
        "uk",
        _names(
            "Oksana, Olena, Iryna, Kateryna, Yulia, Natalia, Andriy, Oleksandr, Dmytro, Taras, "
            "Serhiy, Bohdan, Halyna, Mykola"
        ),
        _names(
            "Shevchenko, Kovalenko, Bondarenko, Tkachenko, Kravchenko, Melnyk, Boyko, Lysenko, "
            "Marchenko, Savchenko, Rudenko, Moroz, Hnatyuk, Ostapenko"
        ),
    ),
    "IN": _Origin(
        "hi",
        _names(
            "Priya, Ananya, Kavya, Deepa, Neha, Lakshmi, Rahul, Arjun, Vikram, Sanjay, Rohan, Aditya, Meera, Karthik"
        ),
        _names("Sharma, Patel, Iyer, Nair, Reddy, Gupta, Menon, Rao, Chatterjee, Singh, Desai, Kapoor, Bhatt, Joshi"),
    ),
    "BR": _Origin(
        "pt",
        _names(
            "Ana Clara, Beatriz, Juliana, Camila, Larissa, Letícia, Gabriel, Lucas, Rafael, "
            "Thiago, Bruno, João Pedro, Renata, Vinícius"
        ),
        _names(
            "Silva, Santos, Oliveira, Souza, Pereira, Costa, Rodrigues, Almeida, Carvalho, Ribeiro, "
            "Barbosa, Araújo, Teixeira, Moura"
        ),
    ),
    "CN": _Origin(
        "zh",
        _names("Jing, Xiaoling, Yan, Mei, Ting, Xin, Wei, Hao, Lei, Yuxuan, Jun, Qiang, Yifan, Ruoxi"),
        _names("Wang, Li, Zhang, Liu, Chen, Yang, Huang, Zhao, Zhou, Wu, Xu, Sun, Gao, Lin"),
    ),
    "TR": _Origin(
        "tr",
        _names("Elif, Zeynep, Ayşe, Merve, Selin, Deniz, Emre, Burak, Mehmet, Can, Kerem, Ozan, Ebru, Serkan"),
        _names("Yılmaz, Kaya, Demir, Şahin, Çelik, Yıldız, Aydın, Öztürk, Arslan, Doğan, Kılıç, Aslan, Koç, Kurt"),
    ),
    "PH": _Origin(
        "tl",
        _names(
            "Maria Cristina, Angelica, Joy, Rhea, Kristine, Patricia, Jose Miguel, "
            "Mark Anthony, Paolo, Carlo, Jericho, Rafael, Liezel, Ramon"
        ),
        _names(
            "Santos, Reyes, Cruz, Bautista, Ocampo, Mendoza, Garcia, Villanueva, Ramos, Aquino, "
            "Dela Cruz, Castillo, Soriano, Manalo"
        ),
    ),
    "NG": _Origin(
        "yo",
        _names(
            "Chiamaka, Ngozi, Adaeze, Folake, Temitope, Funmilayo, Chinedu, Emeka, Oluwaseun, "
            "Babatunde, Ifeanyi, Tunde, Yetunde, Segun"
        ),
        _names(
            "Okafor, Adeyemi, Okonkwo, Balogun, Eze, Nwosu, Adebayo, Obi, Afolabi, Ogunleye, "
            "Chukwu, Bello, Oyelaran, Adewale"
        ),
    ),
    "IR": _Origin(
        "fa",
        _names("Shirin, Leila, Maryam, Parisa, Neda, Sara, Reza, Ali, Dariush, Kian, Arash, Babak, Golnaz, Omid"),
        _names(
            "Hosseini, Mohammadi, Karimi, Rahimi, Moradi, Jafari, Rostami, Sadeghi, Ahmadi, "
            "Tehrani, Farahani, Kazemi, Ebrahimi, Nouri"
        ),
    ),
    "IT": _Origin(
        "it",
        _names(
            "Giulia, Francesca, Chiara, Alessandra, Federica, Elisa, Marco, Luca, Matteo, "
            "Davide, Giorgio, Stefano, Valentina, Lorenzo"
        ),
        _names(
            "Rossi, Russo, Ferrari, Esposito, Bianchi, Romano, Colombo, Ricci, Marino, Greco, "
            "Bruno, Gallo, Conti, De Luca"
        ),
    ),
    "SY": _Origin(
        "ar",
        _names("Rasha, Lina, Dima, Hiba, Nour, Yara, Bassel, Fadi, Samer, Rami, Majd, Hussam, Reem, Wael"),
        _names(
            "Haddad, Khatib, Sabbagh, Hamwi, Kassab, Halabi, Jaber, Hakim, Najjar, Attar, Shami, Darwish, Masri, Nassar"
        ),
    ),
}

# Where coaches who did not grow up in their host country come from (weights).
_DIASPORA: tuple[tuple[str, float], ...] = (
    ("PL", 3),
    ("UA", 3),
    ("IN", 4),
    ("BR", 3),
    ("CN", 3),
    ("TR", 3),
    ("PH", 2.5),
    ("NG", 2),
    ("IR", 2),
    ("IT", 2),
    ("SY", 2.5),
    ("AE", 1),
    ("MX", 1.5),
    ("ES", 1.5),
    ("FR", 1.5),
    ("DE", 1.5),
    ("GB", 2),
    ("US", 2),
    ("NL", 1),
    ("SE", 0.8),
    ("NO", 0.5),
    ("DK", 0.5),
    ("CA", 1),
    ("SG", 0.8),
    ("CH", 0.5),
)
_DIASPORA_CODES: tuple[str, ...] = tuple(code for code, _ in _DIASPORA)
_DIASPORA_CUM: list[float] = list(accumulate(weight for _, weight in _DIASPORA))

_SECOND_LANGUAGES: tuple[str, ...] = ("fr", "de", "es", "en", "it", "ru", "nl", "sv")

_GOALS_BESIDES_EMPLOYMENT: tuple[tuple[Goal, float], ...] = (
    (Goal.INTEGRATION, 0.3),
    (Goal.EDUCATION, 0.2),
    (Goal.ENTREPRENEURSHIP, 0.15),
)

_ASCII = str.maketrans(
    {"ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "ß": "ss", "ł": "l", "Ł": "L", "ı": "i", "đ": "d", "œ": "oe"}
)

_KINDS: tuple[LeadKind, ...] = (LeadKind.JOB, LeadKind.NETWORK, LeadKind.EDUCATION, LeadKind.VOLUNTEERING)
_KIND_CUM: list[float] = list(accumulate((0.80, 0.08, 0.07, 0.05)))

_COACH_LOCAL_LEVEL_CUM = list(accumulate((0.15, 0.6, 0.25)))  # B2, C1, C2
_COACH_ENGLISH_LEVEL_CUM = list(accumulate((0.3, 0.45, 0.25)))  # B2, C1, C2
_SECTOR_COUNT_CUM = list(accumulate((0.35, 0.45, 0.2)))  # 1, 2, 3 sectors
_JOB_LEVEL_CUM = list(accumulate((0.3, 0.4, 0.3)))  # B1, B2, C1
_SENIOR_LEVEL_CUM = list(accumulate((0.1, 0.35, 0.55)))  # B1, B2, C1 where the work is in the language
_COURSE_LEVEL_CUM = list(accumulate((0.25, 0.25, 0.25, 0.15, 0.1)))  # A1 .. C1

_LEVELS = (CefrLevel.A1, CefrLevel.A2, CefrLevel.B1, CefrLevel.B2, CefrLevel.C1, CefrLevel.C2)
_SENIORITY: tuple[str, ...] = ("", "Senior ", "Junior ", "Lead ", "Principal ")
_SENIORITY_CUM: list[float] = list(accumulate((0.55, 0.25, 0.10, 0.06, 0.04)))
_PROPER_FIRST_WORDS = frozenset({"Java", "English"})
_TITLE_SUFFIXES: tuple[str, ...] = (" (part-time)", " (12-month contract)", " (maternity cover)", " (freelance)")


# --------------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------------


def generate_catalog(*, seed: int = 7, coaches: int = 60, job_leads: int = 600, today: date) -> Catalog:
    """A sample catalog; the same arguments always give the same catalog.

    `today` anchors the lead expiry dates: they fall between today−10 days and today+90 days (UTC),
    so roughly one lead in ten has already expired. At the default sizes every host city has
    coaches and leads, and every sector has leads.
    """
    if coaches < 0 or job_leads < 0:
        raise ValueError("coaches and job_leads must not be negative")
    rng = random.Random(seed)
    generator = _Generator(rng, today)
    return Catalog(coaches=generator.coaches(coaches), job_leads=generator.job_leads(job_leads))


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many acyclic records (a quarter of the
    time at 100k leads went to collections that find nothing); restore it afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _Generator:
    def __init__(self, rng: random.Random, today: date) -> None:
        self.rng = rng
        self.random = rng.random
        midnight = datetime(today.year, today.month, today.day, tzinfo=UTC)
        # Expiry on the hour, from today-10 days up to (not including) today+90 days.
        self.expiry_hours: tuple[datetime, ...] = tuple(
            midnight + timedelta(hours=hours) for hours in range(-10 * 24, 90 * 24)
        )
        self.language_skills: dict[tuple[str, CefrLevel], LanguageSkill] = {}
        self.sectors: tuple[Sector, ...] = tuple(Sector)
        self.city_cum: list[float] = list(accumulate(c.size for c in _CITIES))
        # Sector weights per city, and city weights per sector (to place a lead of a given sector).
        weight = [[_SECTORS[s].weight * c.sector_affinity.get(s, 1.0) for s in self.sectors] for c in _CITIES]
        self.sector_cum_by_city: list[list[float]] = [list(accumulate(row)) for row in weight]
        self.city_cum_by_sector: list[list[float]] = [
            list(accumulate(_CITIES[ci].size * weight[ci][si] for ci in range(len(_CITIES))))
            for si in range(len(self.sectors))
        ]
        self.same_country: list[tuple[int, ...]] = [
            tuple(j for j, other in enumerate(_CITIES) if other.country == c.country and j != i)
            for i, c in enumerate(_CITIES)
        ]
        self.extra_skills: dict[tuple[Sector, str], tuple[str, ...]] = {
            (s, o.title): tuple(skill for skill in p.skills if skill not in o.core_skills)
            for s, p in _SECTORS.items()
            for o in p.occupations
        }

    # ---- shared helpers ------------------------------------------------------------------------

    def skill(self, code: str, level: CefrLevel) -> LanguageSkill:
        key = (code, level)
        found = self.language_skills.get(key)
        if found is None:
            found = self.language_skills[key] = LanguageSkill(code=code, level=level)
        return found

    # random.Random's choice/choices/randint spend most of their time in argument handling; these
    # draw from the same generator (so stay deterministic) at a fraction of the cost.
    def one(self, items: Sequence[_T]) -> _T:
        return items[int(self.random() * len(items))]

    def weighted(self, items: Sequence[_T], cum_weights: Sequence[float]) -> _T:
        return items[bisect(cum_weights, self.random() * cum_weights[-1], 0, len(cum_weights) - 1)]

    def randint(self, low: int, high: int) -> int:
        return low + int(self.random() * (high - low + 1))

    def pick_sector(self, city: int) -> Sector:
        return self.weighted(self.sectors, self.sector_cum_by_city[city])

    @staticmethod
    def guaranteed(n: int, kinds: int, at_least: int) -> list[int]:
        """Each index in 0..kinds-1 `at_least` times, or fewer times when `n` items cannot hold that."""
        floor = min(at_least, n // kinds)
        return [i for i in range(kinds) for _ in range(floor)]

    def organisation(self, template: str, city: _City, label: str = "") -> str:
        return template.format(stem=self.one(_ORG_STEMS), city=city.name, label=label)

    # ---- coaches -------------------------------------------------------------------------------

    def coaches(self, n: int) -> list[Coach]:
        rng = self.rng
        homes = self.guaranteed(n, len(_CITIES), 2)
        homes += rng.choices(range(len(_CITIES)), cum_weights=self.city_cum, k=n - len(homes))
        rng.shuffle(homes)
        emails: set[str] = set()
        with _gc_paused():
            return [self.coach(number, home, emails) for number, home in enumerate(homes, start=1)]

    def coach(self, number: int, home: int, emails: set[str]) -> Coach:
        rng = self.rng
        city = _CITIES[home]
        if self.random() < city.local_coach_share:
            origin_code = city.country
        else:
            origin_code = self.weighted(_DIASPORA_CODES, _DIASPORA_CUM)
        origin = _ORIGINS[origin_code]
        given, family = self.one(origin.given), self.one(origin.family)
        display_name = f"{given} {family}"

        languages: dict[str, CefrLevel] = {origin.language: CefrLevel.C2}
        # Most coaches speak the local language well, except where business runs in English (Dubai).
        if city.language not in languages and self.random() < (0.9 if city.local_language_pressure > 0.5 else 0.3):
            languages[city.language] = self.weighted(_LEVELS[3:], _COACH_LOCAL_LEVEL_CUM)
        if "en" not in languages and self.random() < 0.85:
            languages["en"] = self.weighted(_LEVELS[3:], _COACH_ENGLISH_LEVEL_CUM)
        if origin_code == "CA" and self.random() < 0.5:
            languages.setdefault("fr", self.one(_LEVELS[3:]))
        if city.extra_language and self.random() < 0.25:
            languages.setdefault(city.extra_language, self.one(_LEVELS[3:]))
        if len(languages) < 4 and self.random() < 0.15:
            languages.setdefault(self.one(_SECOND_LANGUAGES), self.one(_LEVELS[2:4]))
        skills = [self.skill(code, level) for code, level in list(languages.items())[:4]]

        sector_count = self.weighted((1, 2, 3), _SECTOR_COUNT_CUM)
        sectors: list[Sector] = []
        while len(sectors) < sector_count:
            sector = self.pick_sector(home)
            if sector not in sectors:
                sectors.append(sector)

        specialties = [Goal.EMPLOYMENT] if self.random() < 0.85 else []
        specialties += [goal for goal, share in _GOALS_BESIDES_EMPLOYMENT if self.random() < share]
        if not specialties:
            specialties = [self.one((Goal.INTEGRATION, Goal.EDUCATION, Goal.ENTREPRENEURSHIP))]

        cities = [HOST_CITIES[home]]
        if self.same_country[home] and self.random() < 0.3:
            cities.append(HOST_CITIES[self.one(self.same_country[home])])
        remote = self.random() < 0.3
        # Some coaches meet partners anywhere in their country (matching reads that as in person).
        countries = [city.country] if self.random() < 0.2 else []

        return Coach(
            coach_id=f"coach-{number:04d}",
            display_name=display_name,
            contact_email=self.email(given, family, emails),
            languages=skills,
            sectors=sectors,
            specialties=specialties,
            cities=cities,
            countries=countries,
            remote=remote,
            timezone=city.timezone,
            capacity=self.randint(2, 12),
            rating=round(rng.triangular(3.2, 5.0, 4.4), 1),
            active=self.random() >= 0.05,
        )

    @staticmethod
    def email(given: str, family: str, taken: set[str]) -> str:
        def slug(name: str) -> str:
            ascii_name = unicodedata.normalize("NFKD", name.translate(_ASCII)).encode("ascii", "ignore").decode()
            return "".join(ch for ch in ascii_name.lower() if ch.isalnum() or ch == "-")

        base = f"{slug(given)}.{slug(family)}"
        local, suffix = base, 1
        while local in taken:
            suffix += 1
            local = f"{base}{suffix}"
        taken.add(local)
        return f"{local}@coach.example"

    # ---- job leads -----------------------------------------------------------------------------

    def job_leads(self, n: int) -> list[JobLead]:
        cities, sectors = range(len(_CITIES)), range(len(self.sectors))
        # A plan of (city, sector, forced job) per lead: three jobs per city and three per sector
        # (when n allows) guarantee coverage; the rest follows the city sizes and each city's sector mix.
        plan: list[tuple[int, int, bool]] = []
        for ci in self.guaranteed(n // 2, len(cities), 3):
            plan.append((ci, self.weighted(sectors, self.sector_cum_by_city[ci]), True))
        for si in self.guaranteed(n // 2, len(sectors), 3):
            plan.append((self.weighted(cities, self.city_cum_by_sector[si]), si, True))
        for _ in range(n - len(plan)):
            ci = self.weighted(cities, self.city_cum)
            plan.append((ci, self.weighted(sectors, self.sector_cum_by_city[ci]), False))
        self.rng.shuffle(plan)

        with _gc_paused():
            return [
                self.lead(number, ci, self.sectors[si], LeadKind.JOB if forced else self.weighted(_KINDS, _KIND_CUM))
                for number, (ci, si, forced) in enumerate(plan, start=1)
            ]

    def lead(self, number: int, ci: int, sector: Sector, kind: LeadKind) -> JobLead:
        if kind is LeadKind.JOB:
            fields = self.job(ci, sector)
        elif kind is LeadKind.NETWORK:
            fields = self.network(ci, sector)
        elif kind is LeadKind.EDUCATION:
            fields = self.course(ci, sector)
        else:
            fields = self.volunteering(ci, sector)
        lead_id = f"lead-{number:05d}"
        expires_at = self.one(self.expiry_hours)
        return JobLead(
            job_lead_id=lead_id,
            kind=kind,
            title=fields.title,
            organisation=fields.organisation,
            location=HOST_CITIES[ci],
            remote=fields.remote,
            sector=fields.sector,
            occupation=fields.occupation,
            skills=fields.skills,
            required_languages=fields.languages,
            work_rights_required=fields.work_rights_required,
            visa_sponsorship=fields.visa_sponsorship,
            expires_at=expires_at,
            url=f"https://jobs.example/{lead_id}",
        )

    def job(self, ci: int, sector: Sector) -> _LeadFields:
        rng = self.rng
        city, profile = _CITIES[ci], _SECTORS[sector]
        occupation = self.one(profile.occupations)
        seniority = self.weighted(_SENIORITY, _SENIORITY_CUM)
        title = occupation.title
        if seniority:
            # "Senior data analyst", but "Senior QA engineer": keep acronyms as they are.
            keep = title[1:2].isupper() or title.split()[0] in _PROPER_FIRST_WORDS
            title = seniority + (title if keep else title[0].lower() + title[1:])
        if self.random() < 0.08:
            title += self.one(_TITLE_SUFFIXES)

        if sector is Sector.PUBLIC_SECTOR:
            organisation = self.organisation(self.one(_PUBLIC_ORGS), city)
        elif sector is Sector.NON_PROFIT:  # foundations and trusts carry no company form
            organisation = f"{self.one(_ORG_STEMS)} {self.one(profile.org_nouns)}"
        else:
            form = self.one(_LEGAL_FORM[city.country])
            organisation = f"{self.one(_ORG_STEMS)} {self.one(profile.org_nouns)} {form}"

        languages: list[LanguageSkill] = []
        senior = profile.senior_language
        if city.language == "en":
            if self.random() < 0.85:
                languages.append(self.skill("en", CefrLevel.C1 if senior or self.random() < 0.5 else CefrLevel.B2))
        else:
            local_required = self.random() < min(0.95, profile.local_language * city.local_language_pressure)
            english_share = 0.3 if local_required and senior else 0.7
            if self.random() < english_share:
                languages.append(self.skill("en", CefrLevel.B2 if self.random() < 0.55 else CefrLevel.C1))
            if local_required:
                level = self.weighted(_LEVELS[2:5], _SENIOR_LEVEL_CUM if senior else _JOB_LEVEL_CUM)
                languages.append(self.skill(city.language, level))
        if city.extra_language and self.random() < 0.07:
            languages.append(self.skill(city.extra_language, CefrLevel.B2))

        sponsored = self.random() < 0.10
        # A job that sponsors a visa does not ask for existing work rights; a few freelance ones neither.
        work_rights = not sponsored and self.random() < 0.97
        remote = self.random() < profile.remote_share
        extra = self.extra_skills[(sector, occupation.title)]
        count = self.randint(3, 8) - len(occupation.core_skills)
        skills = list(occupation.core_skills)
        if count > 0 and self.random() < 0.3:
            transversal = self.one(_TRANSVERSAL_SKILLS)
            skills.append(transversal)
            extra = tuple(skill for skill in extra if skill != transversal)
            count -= 1
        skills += rng.sample(extra, min(count, len(extra)))
        return _LeadFields(
            title, organisation, remote, sector, occupation.occupation, skills, languages, work_rights, sponsored
        )

    def network(self, ci: int, sector: Sector) -> _LeadFields:
        rng = self.rng
        city, profile = _CITIES[ci], _SECTORS[sector]
        remote = self.random() < 0.15
        template = _NETWORK_REMOTE_TITLE if remote else self.one(_NETWORK_TITLES)
        title = template.format(label=profile.label, city=city.name)
        organisation = self.organisation(self.one(_NETWORK_ORGS), city, profile.label)
        occupation = self.one(profile.occupations)
        skills = ["develop professional network", "build business relationships"]
        skills += rng.sample([s for s in profile.skills if s not in skills], self.randint(1, 6))
        languages: list[LanguageSkill] = []
        if self.random() < 0.4:
            languages.append(self.skill("en", CefrLevel.B1 if self.random() < 0.5 else CefrLevel.B2))
        return _LeadFields(
            title, organisation, remote, sector, occupation.occupation, skills, languages, self.random() < 0.05, False
        )

    def course(self, ci: int, sector: Sector) -> _LeadFields:
        rng = self.rng
        city, profile = _CITIES[ci], _SECTORS[sector]
        remote = self.random() < 0.15
        languages: list[LanguageSkill] = []
        if self.random() < 0.5:  # a course in the local language
            level = self.weighted(_LEVELS[:5], _COURSE_LEVEL_CUM)
            name = _LANGUAGE_NAME[city.language]
            if city.language == "en":
                name = "Business English"
            template = _LANGUAGE_COURSE_REMOTE_TITLE if remote else self.one(_LANGUAGE_COURSE_TITLES)
            title = template.format(lang=name, level=level.name)
            organisation = self.organisation(self.one(_LANGUAGE_SCHOOLS), city)
            if level > CefrLevel.A1:
                languages.append(self.skill(city.language, _LEVELS[level - 2]))
            lang = _LANGUAGE_NAME[city.language]
            skills = [
                lang,
                *rng.sample(
                    (
                        f"understand spoken {lang}",
                        f"understand written {lang}",
                        f"interact verbally in {lang}",
                        f"write {lang}",
                    ),
                    self.randint(2, 4),
                ),
            ]
            if self.random() < 0.5:
                skills.append("show intercultural awareness")
            return _LeadFields(
                title, organisation, remote, Sector.EDUCATION, "language learner", skills, languages, False, False
            )
        title = self.one(profile.courses)
        if remote:
            title = f"{title} (online)"
        organisation = self.organisation(self.one(_COURSE_ORGS), city)
        occupation = self.one(profile.occupations)
        skills = rng.sample(profile.skills, self.randint(3, 8))
        if self.random() < 0.6:
            languages.append(self.skill("en", CefrLevel.B2))
        elif city.language != "en":
            languages.append(self.skill(city.language, CefrLevel.B1))
        return _LeadFields(
            title, organisation, remote, sector, occupation.occupation, skills, languages, self.random() < 0.05, False
        )

    def volunteering(self, ci: int, sector: Sector) -> _LeadFields:
        rng = self.rng
        city = _CITIES[ci]
        options = _VOLUNTEERING.get(sector)
        if options is None:
            sector, options = Sector.NON_PROFIT, _VOLUNTEERING[Sector.NON_PROFIT]
        role = self.one(options)
        title = f"{role.title} – {city.name}"
        organisation = self.organisation(self.one(_VOLUNTEER_ORGS), city)
        skills = rng.sample(role.skills, self.randint(3, len(role.skills)))
        languages: list[LanguageSkill] = []
        draw = self.random()
        if draw < 0.5:
            languages.append(self.skill(city.language, CefrLevel.A2 if self.random() < 0.5 else CefrLevel.B1))
        elif draw < 0.9:
            languages.append(self.skill("en", CefrLevel.B1))
        return _LeadFields(
            title,
            organisation,
            self.random() < 0.05,
            sector,
            role.occupation,
            skills,
            languages,
            self.random() < 0.15,
            False,
        )


@dataclass(frozen=True, slots=True)
class _LeadFields:
    title: str
    organisation: str
    remote: bool
    sector: Sector
    occupation: str
    skills: list[str]
    languages: list[LanguageSkill]
    work_rights_required: bool
    visa_sponsorship: bool


def _main(argv: Sequence[str] | None = None) -> None:
    """`python -m samples.matching_catalog [coaches] [job_leads]`: size and time one catalog."""
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    coaches = int(args[0]) if args else 60
    job_leads = int(args[1]) if len(args) > 1 else 600
    started = time.perf_counter()
    catalog = generate_catalog(coaches=coaches, job_leads=job_leads, today=date.today())
    elapsed = time.perf_counter() - started
    print(f"{len(catalog.coaches)} coaches, {len(catalog.job_leads)} job leads in {elapsed:.2f} s")


if __name__ == "__main__":
    _main()
