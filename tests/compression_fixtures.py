"""Hand-made contexts for the compression tests (no shared data needed)."""

from __future__ import annotations

# Ten passages on unrelated topics, in the "Document [i](Title: …)" RAG layout; each
# question below is answered by exactly one sentence of one passage.
PASSAGES = [
    ("Lake Vostok", "Lake Vostok is the largest known subglacial lake in Antarctica. It lies "
     "beneath the Russian Vostok Station under the surface of the central East Antarctic Ice "
     "Sheet. The lake was confirmed by Russian and British scientists in 1996. Its water has "
     "been isolated from the atmosphere for about fifteen million years."),
    ("Harbour Bridge", "The Sydney Harbour Bridge is a steel through arch bridge in Sydney. "
     "It carries rail, vehicular, bicycle and pedestrian traffic between the central business "
     "district and the North Shore. The bridge was designed and built by the English firm "
     "Dorman Long and opened in 1932. Locals nicknamed it The Coathanger."),
    ("Penicillin", "Penicillin is a group of antibiotics originally obtained from Penicillium "
     "moulds. Alexander Fleming discovered its antibacterial effect in 1928 at St Mary's "
     "Hospital in London. Mass production began during the Second World War. Many bacteria "
     "have since developed resistance to it."),
    ("Mount Kilimanjaro", "Mount Kilimanjaro is a dormant volcano in Tanzania. It has three "
     "volcanic cones: Kibo, Mawenzi and Shira. Its summit, Uhuru Peak, stands 5,895 metres "
     "above sea level. Climbers usually need five to nine days for the round trip."),
    ("Chess", "Chess is a board game for two players. It is played on a square board of "
     "sixty-four squares arranged in an eight-by-eight grid. Each player begins with sixteen "
     "pieces. The current world champion title has a long lineage of famous holders."),
    ("Great Fire of London", "The Great Fire of London swept through the central parts of "
     "London in September 1666. It gutted the medieval City of London inside the old Roman "
     "city wall. The fire started in a bakery on Pudding Lane owned by Thomas Farriner. About "
     "13,200 houses were destroyed."),
    ("Saturn", "Saturn is the sixth planet from the Sun and the second largest in the Solar "
     "System. It is a gas giant with an average radius about nine times that of Earth. The "
     "planet has a prominent ring system made mostly of ice particles. Saturn has 146 moons "
     "with confirmed orbits."),
    ("Telephone", "The telephone converts sound into electronic signals for transmission over "
     "distances. Alexander Graham Bell was granted the first United States patent for it in "
     "1876. Early telephones were connected directly in pairs. Exchanges later switched calls "
     "between many subscribers."),
    ("Coffee", "Coffee is a beverage brewed from roasted coffee beans. The earliest evidence "
     "of coffee drinking dates to Yemen in the fifteenth century. Brazil is the largest "
     "producer of coffee beans today. It is one of the most traded agricultural commodities."),
    ("Amazon River", "The Amazon River in South America is the largest river by discharge "
     "volume of water in the world. It flows through Peru, Colombia and Brazil into the "
     "Atlantic Ocean. The river basin covers about seven million square kilometres. Its "
     "mouth is so wide that it is sometimes described as an inland sea."),
]
CASES = [
    ("who built the sydney harbour bridge", "Dorman Long"),
    ("when did fleming discover penicillin", "1928"),
    ("how many moons does saturn have", "146"),
    ("how high is the summit of kilimanjaro", "5,895 metres"),
    ("where did the great fire of london start", "Pudding Lane"),
    ("who received the first patent for the telephone", "Alexander Graham Bell"),
    ("which countries does the amazon river flow through", "Peru"),
]


def context(order: list[int] | None = None) -> str:
    order = order if order is not None else list(range(len(PASSAGES)))
    return "\n\n".join(
        f"Document [{i}](Title: {PASSAGES[k][0]}) {PASSAGES[k][1]}" for i, k in enumerate(order, 1)
    )
