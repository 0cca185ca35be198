"""Districts, towns and approximate coordinates the synthetic Q1 2024 data set draws from.

District and province names are the gazetteer's canonical names. The weights say how often a
district appears; they are loosely shaped on where violence concentrated in early 2024.
"""

from __future__ import annotations

from typing import NamedTuple


class District(NamedTuple):
    name: str
    lat: float
    lon: float
    weight: int
    towns: tuple[str, ...]


KP = "Khyber Pakhtunkhwa"
BALOCHISTAN = "Balochistan"
PUNJAB = "Punjab"
SINDH = "Sindh"
ICT = "Islamabad Capital Territory"
GB = "Gilgit-Baltistan"
AJK = "Azad Jammu and Kashmir"

DISTRICTS: dict[str, tuple[District, ...]] = {
    KP: (
        District(
            "North Waziristan",
            32.99,
            70.12,
            14,
            ("Mir Ali", "Miranshah", "Datta Khel", "Spinwam", "Razmak", "Ghulam Khan"),
        ),
        District("Lower South Waziristan", 32.30, 69.58, 5, ("Wana", "Azam Warsak", "Shakai")),
        District("Upper South Waziristan", 32.45, 69.85, 5, ("Ladha", "Makeen", "Sararogha")),
        District("Bannu", 32.99, 70.60, 8, ("Bannu", "Domel", "Jani Khel", "Baka Khel")),
        District(
            "Lakki Marwat", 32.61, 70.91, 7, ("Lakki Marwat", "Serai Naurang", "Tajori", "Pezu")
        ),
        District(
            "Dera Ismail Khan",
            31.83,
            70.90,
            9,
            ("Dera Ismail Khan", "Kulachi", "Daraban", "Paharpur", "Chodhwan"),
        ),
        District("Tank", 32.22, 70.38, 4, ("Tank", "Gul Imam", "Jandola")),
        District("Khyber", 34.00, 71.25, 7, ("Bara", "Jamrud", "Landi Kotal", "Tirah")),
        District("Bajaur", 34.78, 71.52, 5, ("Khar", "Mamund", "Salarzai", "Nawagai")),
        District(
            "Peshawar", 34.01, 71.58, 6, ("Peshawar", "Badaber", "Mathra", "Hayatabad", "Chamkani")
        ),
        District("Kurram", 33.83, 70.10, 3, ("Parachinar", "Sadda", "Alizai")),
        District("Mohmand", 34.37, 71.47, 2, ("Ghalanai", "Safi", "Mitai")),
        District("Swat", 35.22, 72.43, 2, ("Mingora", "Kabal", "Matta")),
        District("Shangla", 34.89, 72.73, 1, ("Alpuri", "Besham")),
        District("Kohat", 33.59, 71.44, 2, ("Kohat", "Darra Adam Khel")),
        District("Orakzai", 33.68, 70.98, 2, ("Kalaya", "Ghiljo")),
        District("Karak", 33.12, 71.10, 1, ("Karak", "Takht-e-Nasrati")),
        District("Charsadda", 34.15, 71.74, 1, ("Charsadda", "Tangi")),
    ),
    BALOCHISTAN: (
        District("Kech", 26.00, 63.05, 9, ("Turbat", "Buleda", "Tump", "Mand", "Hoshab")),
        District("Gwadar", 25.13, 62.32, 4, ("Gwadar", "Pasni", "Jiwani", "Ormara")),
        District("Panjgur", 26.96, 64.09, 4, ("Panjgur", "Paroom", "Gichk")),
        District("Quetta", 30.18, 67.00, 7, ("Quetta", "Hazar Ganji", "Sariab", "Kuchlak")),
        District("Mastung", 29.80, 66.84, 4, ("Mastung", "Dasht", "Kardgap")),
        District("Kalat", 29.03, 66.59, 4, ("Kalat", "Mangochar", "Johan")),
        District("Kachhi", 29.60, 67.60, 4, ("Mach", "Dhadar", "Bolan")),
        District("Nasirabad", 28.45, 68.00, 2, ("Dera Murad Jamali", "Tamboo")),
        District("Dera Bugti", 29.03, 69.15, 4, ("Dera Bugti", "Sui", "Pir Koh")),
        District("Kohlu", 29.90, 69.25, 3, ("Kohlu", "Kahan")),
        District("Zhob", 31.34, 69.45, 3, ("Zhob", "Sambaza", "Qamar Din Karez")),
        District("Awaran", 26.46, 65.23, 2, ("Awaran", "Mashkay", "Jhal Jhao")),
        District("Washuk", 27.74, 64.79, 2, ("Washuk", "Besima")),
        District("Nushki", 29.55, 66.02, 2, ("Nushki", "Ahmedwal")),
        District("Kharan", 28.58, 65.42, 2, ("Kharan", "Sarawan")),
        District("Khuzdar", 27.81, 66.61, 2, ("Khuzdar", "Wadh", "Zehri")),
        District("Harnai", 30.10, 67.94, 2, ("Harnai", "Shahrag")),
        District("Pishin", 30.58, 66.99, 1, ("Khanozai", "Pishin")),
        District("Killa Saifullah", 30.70, 68.36, 1, ("Killa Saifullah",)),
    ),
    PUNJAB: (
        District("Mianwali", 32.58, 71.54, 3, ("Mianwali", "Isa Khel", "Kundian")),
        District("Dera Ghazi Khan", 30.05, 70.63, 3, ("Dera Ghazi Khan", "Taunsa", "Kot Chutta")),
        District("Lahore", 31.55, 74.34, 2, ("Lahore",)),
        District("Rawalpindi", 33.60, 73.05, 1, ("Rawalpindi",)),
        District("Rajanpur", 29.10, 70.33, 1, ("Rajanpur", "Rojhan")),
    ),
    SINDH: (
        District("Karachi West", 24.90, 66.97, 2, ("Orangi Town", "Baldia Town")),
        District("Karachi East", 24.91, 67.10, 2, ("Gulshan-e-Iqbal", "Gulistan-e-Jauhar")),
        District("Keamari", 24.90, 66.85, 1, ("Keamari", "Mauripur")),
        District("Kashmore", 28.43, 69.58, 2, ("Kashmore", "Kandhkot")),
        District("Shikarpur", 27.95, 68.64, 1, ("Shikarpur", "Khanpur")),
    ),
    ICT: (District("Islamabad", 33.69, 73.05, 1, ("Islamabad", "Tarnol")),),
    GB: (
        District("Diamer", 35.42, 74.10, 1, ("Chilas", "Thor")),
        District("Gilgit", 35.92, 74.31, 1, ("Gilgit",)),
    ),
    AJK: (District("Poonch", 33.86, 73.76, 1, ("Rawalakot", "Hajira")),),
}


def district(province: str, name: str) -> District:
    """Return the district ``name`` of ``province``."""
    for d in DISTRICTS[province]:
        if d.name == name:
            return d
    raise KeyError(f"{province}/{name}")
