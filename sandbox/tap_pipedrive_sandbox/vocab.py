"""Word lists the generator draws realistic values from.

Some entries are deliberately non-ASCII (Zoë, München, São Paulo) so that the tap's UTF-8
handling is exercised by every sync against the sandbox.
"""

from __future__ import annotations

FIRST_NAMES = (
    "Anna", "Ben", "Carla", "David", "Elif", "Farah", "Georg", "Hanna", "Ivan", "Jana",
    "Kai", "Laura", "Mateo", "Nora", "Oskar", "Priya", "Quentin", "Rosa", "Sven", "Tiina",
    "Umar", "Vera", "William", "Xenia", "Yusuf", "Zoë", "Jürgen", "Aino", "Chloé", "Björn",
    "Lucía", "Mihai", "Sanna", "Tomás", "Wen", "Amara", "Diego", "Emma", "Kenji", "Leila",
)
LAST_NAMES = (
    "Smith", "Tamm", "Müller", "García", "Rossi", "Dubois", "Kowalski", "Nguyen", "Silva",
    "Johansson", "O'Brien", "Kask", "Novak", "Yilmaz", "Costa", "Fischer", "Andersen",
    "Martin", "Khan", "Sato", "Virtanen", "Brown", "Lopez", "Schmidt", "Ivanova", "Cohen",
    "Walsh", "Mäkinen", "Pereira", "Horvat",
)
ORG_FIRST = (
    "Northwind", "Bluebird", "Ironwood", "Silverline", "Redstone", "Brightpath", "Oakridge",
    "Clearwater", "Summit", "Harbor", "Evergreen", "Polaris", "Granite", "Lumen", "Cobalt",
    "Juniper", "Sterling", "Meridian", "Falcon", "Aurora",
)
ORG_SECOND = (
    "Traders", "Logistics", "Analytics", "Foods", "Robotics", "Energy", "Health", "Media",
    "Software", "Consulting", "Textiles", "Labs", "Motors", "Finance", "Design", "Systems",
)
ORG_SUFFIX = ("Ltd", "GmbH", "Inc.", "OÜ", "S.A.", "LLC", "AB", "Oy")

# (country, admin_area_level_1, admin_area_level_2, locality, sublocality, streets,
#  postal code pattern ('#' = digit), phone prefix, currency)
LOCALES = (
    ("United States", "Texas", "Travis County", "Austin", "Downtown",
     ("Congress Ave", "Lamar Blvd", "Guadalupe St"), "787##", "+1 512 555", "USD"),
    ("United States", "New York", "New York County", "New York", "Manhattan",
     ("Broadway", "5th Ave", "Canal St"), "100##", "+1 212 555", "USD"),
    ("United Kingdom", "England", "Greater London", "London", "Shoreditch",
     ("Old Street", "Baker Street", "Curtain Road"), "EC2A #HX", "+44 20 7946", "GBP"),
    ("Germany", "Bayern", "Oberbayern", "München", "Schwabing",
     ("Leopoldstraße", "Sonnenstraße", "Maximilianstraße"), "80###", "+49 89 5550", "EUR"),
    ("Estonia", "Harju maakond", "Tallinn", "Tallinn", "Kesklinn",
     ("Narva mnt", "Pärnu mnt", "Tartu mnt"), "10###", "+372 555", "EUR"),
    ("France", "Île-de-France", "Paris", "Paris", "Le Marais",
     ("Rue de Rivoli", "Rue Oberkampf", "Boulevard Voltaire"), "750##", "+33 1 5555", "EUR"),
    ("Brazil", "São Paulo", "São Paulo", "São Paulo", "Pinheiros",
     ("Avenida Paulista", "Rua Augusta", "Rua Oscar Freire"), "01###-###", "+55 11 5555", "BRL"),
    ("Portugal", "Lisboa", "Lisboa", "Lisboa", "Chiado",
     ("Rua Garrett", "Avenida da Liberdade", "Rua Augusta"), "1200-###", "+351 21 555", "EUR"),
)
CURRENCIES = ("EUR", "USD", "GBP", "BRL")
JOB_TITLES = (
    "CEO", "CTO", "Head of Sales", "Procurement Manager", "Operations Lead", "Buyer",
    "Marketing Director", "Account Executive", "Office Manager", "Data Engineer", None,
)
DEAL_NOUNS = (
    "licences", "annual support", "pilot project", "onboarding package", "hardware refresh",
    "consulting hours", "renewal", "upsell", "enterprise plan", "training",
)
PRODUCT_ADJ = (
    "Basic", "Pro", "Enterprise", "Premium", "Compact", "Cloud", "Advanced", "Starter",
    "Ultra", "Smart",
)
PRODUCT_NOUNS = (
    "Licence", "Support Plan", "Sensor Kit", "Router", "Training Day", "Analytics Add-on",
    "Storage Pack", "Laptop", "Monitor", "Onboarding", "API Quota", "Headset",
)
PRODUCT_CATEGORIES = ("Software", "Hardware", "Services", "Retail", None)
PRODUCT_UNITS = ("pcs", "hours", "seats", "months", "")
ACTIVITY_TYPES = ("call", "meeting", "task", "deadline", "email", "lunch")
ACTIVITY_SUBJECTS = {
    "call": "Call {name}",
    "meeting": "Meeting with {name}",
    "task": "Prepare proposal for {name}",
    "deadline": "Contract deadline: {name}",
    "email": "Follow-up email to {name}",
    "lunch": "Lunch with {name}",
}
LOST_REASONS = ("Price too high", "Chose a competitor", "No budget", "Timing", "No response")
ORIGINS = ("ManuallyCreated", "API", "Import", "WebForms", "LeadBooster")
PIPELINES = (
    ("Sales", ("Qualified", "Contact made", "Demo scheduled", "Proposal made", "Negotiation")),
    ("Partnerships", ("Intro", "Fit check", "Terms", "Legal", "Signed")),
    ("Renewals", ("Upcoming", "Contacted", "Quote sent", "Verbal yes", "Invoiced")),
)
TIMEZONES = (
    ("Europe/Tallinn", "+02:00"), ("Europe/Berlin", "+01:00"), ("America/New_York", "-05:00"),
    ("Europe/London", "+00:00"), ("America/Sao_Paulo", "-03:00"),
)
LOREM = (
    "Discussed rollout timeline and next steps.",
    "Customer asked for a volume discount.",
    "Waiting for the signed order form.",
    "Needs approval from the finance team.",
    "Interested in the premium tier; send references.",
    "Met at the trade fair in München.",
)
