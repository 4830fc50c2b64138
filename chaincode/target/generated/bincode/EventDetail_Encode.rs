impl :: bincode :: Encode for EventDetail
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        match self
        {
            Self ::Applied { event }
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (0u32), encoder) ?
                ; :: bincode :: Encode :: encode(event, encoder) ?; core ::
                result :: Result :: Ok(())
            }, Self ::Rejected { tx_kind, rejection }
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (1u32), encoder) ?
                ; :: bincode :: Encode :: encode(tx_kind, encoder) ?; ::
                bincode :: Encode :: encode(rejection, encoder) ?; core ::
                result :: Result :: Ok(())
            },
        }
    }
}